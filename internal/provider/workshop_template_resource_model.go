package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// workshopTemplateModel is the state and plan of nalabo_workshop_template. Nested
// objects are types.Object (they can be unknown at plan time) with the models below.
type workshopTemplateModel struct {
	ID                 types.String `tfsdk:"id"`
	Name               types.String `tfsdk:"name"`
	InfrastructureType types.String `tfsdk:"infrastructure_type"`
	Isolation          types.String `tfsdk:"isolation"`
	Workspace          types.Object `tfsdk:"workspace"`
	Manifests          types.String `tfsdk:"manifests"`
	Compose            types.String `tfsdk:"compose"`
	ComposeDirectory   types.String `tfsdk:"compose_directory"`
	ComposeBuilds      types.Map    `tfsdk:"compose_builds"`
	Resources          types.Map    `tfsdk:"resources"`
	EffectiveResources types.Object `tfsdk:"effective_resources"`
	Duration           types.String `tfsdk:"duration"`
	PodSecurity        types.String `tfsdk:"pod_security"`
	DockerInDocker     types.Bool   `tfsdk:"docker_in_docker"`
	PrePull            types.Bool   `tfsdk:"pre_pull"`
	WarmPool           types.Int64  `tfsdk:"warm_pool"`
	Egress             types.String `tfsdk:"egress"`
	VClusterValues     types.String `tfsdk:"vcluster_values"`
	Instructions       types.String `tfsdk:"instructions"`
	Validations        types.List   `tfsdk:"validations"`
	// PlacementConstraints: swarm templates only.
	PlacementConstraints types.List `tfsdk:"placement_constraints"`
	// Kubernetes scheduling (template_scheduling.go).
	NodeSelector     types.Map      `tfsdk:"node_selector"`
	Tolerations      types.List     `tfsdk:"toleration"`
	RuntimeClassName types.String   `tfsdk:"runtime_class_name"`
	Digest           types.String   `tfsdk:"digest"`
	Images           types.Map      `tfsdk:"images"`
	Timeouts         timeouts.Value `tfsdk:"timeouts"`
}

type workspaceModel struct {
	Image      types.String `tfsdk:"image"`
	Build      types.Object `tfsdk:"build"`
	Command    types.List   `tfsdk:"command"`
	Env        types.Map    `tfsdk:"env"`
	User       types.String `tfsdk:"user"`
	WorkingDir types.String `tfsdk:"working_dir"`
	Ports      types.List   `tfsdk:"ports"`
}

type buildModel struct {
	Context       types.String `tfsdk:"context"`
	Dockerfile    types.String `tfsdk:"dockerfile"`
	Args          types.Map    `tfsdk:"args"`
	ContextSHA256 types.String `tfsdk:"context_sha256"`
}

type resourcesModel struct {
	CPU     types.String `tfsdk:"cpu"`
	Memory  types.String `tfsdk:"memory"`
	Storage types.String `tfsdk:"storage"`
	// GPU and GPUResource are null when the session has no GPU (resources_gpu.go).
	GPU         types.String `tfsdk:"gpu"`
	GPUResource types.String `tfsdk:"gpu_resource"`
}

type validationModel struct {
	Name             types.String `tfsdk:"name"`
	Command          types.List   `tfsdk:"command"`
	ExpectedExitCode types.Int64  `tfsdk:"expected_exit_code"`
	OutputPattern    types.String `tfsdk:"output_pattern"`
	Timeout          types.String `tfsdk:"timeout"`
}

var (
	buildAttrTypes = map[string]attr.Type{
		"context":        types.StringType,
		"dockerfile":     types.StringType,
		"args":           types.MapType{ElemType: types.StringType},
		"context_sha256": types.StringType,
	}
	workspaceAttrTypes = map[string]attr.Type{
		"image":       types.StringType,
		"build":       types.ObjectType{AttrTypes: buildAttrTypes},
		"command":     types.ListType{ElemType: types.StringType},
		"env":         types.MapType{ElemType: types.StringType},
		"user":        types.StringType,
		"working_dir": types.StringType,
		"ports":       types.ListType{ElemType: types.Int64Type},
	}
	resourcesAttrTypes = map[string]attr.Type{
		"cpu":          types.StringType,
		"memory":       types.StringType,
		"storage":      types.StringType,
		"gpu":          types.StringType,
		"gpu_resource": types.StringType,
	}
	validationAttrTypes = map[string]attr.Type{
		"name":               types.StringType,
		"command":            types.ListType{ElemType: types.StringType},
		"expected_exit_code": types.Int64Type,
		"output_pattern":     types.StringType,
		"timeout":            types.StringType,
	}
)

var asOpts = basetypes.ObjectAsOptions{}

// workspace reads the workspace object (nil when null or unknown).
func (m *workshopTemplateModel) workspace(ctx context.Context, diags *diag.Diagnostics) *workspaceModel {
	if m.Workspace.IsNull() || m.Workspace.IsUnknown() {
		return nil
	}
	var w workspaceModel
	diags.Append(m.Workspace.As(ctx, &w, asOpts)...)
	return &w
}

func (w *workspaceModel) build(ctx context.Context, diags *diag.Diagnostics) *buildModel {
	if w == nil || w.Build.IsNull() || w.Build.IsUnknown() {
		return nil
	}
	var b buildModel
	diags.Append(w.Build.As(ctx, &b, asOpts)...)
	return &b
}

// resources reads a resources object (zero model with null fields when null/unknown).
func resourcesFrom(ctx context.Context, o types.Object, diags *diag.Diagnostics) resourcesModel {
	r := nullResources()
	if o.IsNull() {
		return r
	}
	if o.IsUnknown() {
		return unknownResources()
	}
	diags.Append(o.As(ctx, &r, asOpts)...)
	return r
}

func (r resourcesModel) object(diags *diag.Diagnostics) types.Object {
	o, d := types.ObjectValue(resourcesAttrTypes, map[string]attr.Value{
		"cpu": r.CPU, "memory": r.Memory, "storage": r.Storage, "gpu": r.GPU, "gpu_resource": r.GPUResource,
	})
	diags.Append(d...)
	return o
}

func (r resourcesModel) workshop() workshop.Resources {
	return workshop.Resources{CPU: r.CPU.ValueString(), Memory: r.Memory.ValueString(), Storage: r.Storage.ValueString(),
		GPU: r.GPU.ValueString(), GPUResource: r.GPUResource.ValueString()}
}

func (m *workshopTemplateModel) validations(ctx context.Context, diags *diag.Diagnostics) []validationModel {
	if m.Validations.IsNull() || m.Validations.IsUnknown() {
		return nil
	}
	var vs []validationModel
	diags.Append(m.Validations.ElementsAs(ctx, &vs, false)...)
	return vs
}

// toTemplate builds the domain template from a fully known plan.
func (m *workshopTemplateModel) toTemplate(ctx context.Context, diags *diag.Diagnostics) workshop.Template {
	t := workshop.Template{
		Name:           m.Name.ValueString(),
		Infrastructure: workshop.InfrastructureType(m.InfrastructureType.ValueString()),
		Isolation:      workshop.Isolation(m.Isolation.ValueString()),
		Manifests:      m.Manifests.ValueString(),
		Compose:        m.Compose.ValueString(),
		ComposeDir:     m.ComposeDirectory.ValueString(),
		ComposeBuilds:  mapStrings(ctx, m.ComposeBuilds, diags),
		Resources:      resourcesFrom(ctx, m.EffectiveResources, diags).workshop(),
		Duration:       m.Duration.ValueString(),
		PodSecurity:    m.PodSecurity.ValueString(),
		DockerInDocker: m.DockerInDocker.ValueBool(),
		PrePull:        m.PrePull.ValueBool() && workshop.InfrastructureType(m.InfrastructureType.ValueString()) == workshop.InfraKubernetes,
		WarmPool:       int(m.WarmPool.ValueInt64()),
		VClusterValues: m.VClusterValues.ValueString(),
		Egress:         workshop.Egress(m.Egress.ValueString()),
		Instructions:   m.Instructions.ValueString(),
	}
	if !m.PlacementConstraints.IsNull() && !m.PlacementConstraints.IsUnknown() {
		t.PlacementConstraints = listStrings(ctx, m.PlacementConstraints, diags)
	}
	m.schedulingToTemplate(ctx, &t, diags)
	if w := m.workspace(ctx, diags); w != nil {
		t.Workspace = workshop.Workspace{
			Image:      w.Image.ValueString(),
			Command:    listStrings(ctx, w.Command, diags),
			Env:        mapStrings(ctx, w.Env, diags),
			User:       w.User.ValueString(),
			WorkingDir: w.WorkingDir.ValueString(),
		}
		if !w.Ports.IsNull() && !w.Ports.IsUnknown() {
			var ports []int64
			diags.Append(w.Ports.ElementsAs(ctx, &ports, false)...)
			for _, p := range ports {
				t.Workspace.Ports = append(t.Workspace.Ports, int(p))
			}
		}
		if b := w.build(ctx, diags); b != nil {
			t.Workspace.Build = &workshop.Build{
				Context:       b.Context.ValueString(),
				Dockerfile:    b.Dockerfile.ValueString(),
				Args:          mapStrings(ctx, b.Args, diags),
				ContextDigest: b.ContextSHA256.ValueString(),
			}
		}
	}
	for _, v := range m.validations(ctx, diags) {
		t.Validations = append(t.Validations, workshop.Validation{
			Name:             v.Name.ValueString(),
			Command:          listStrings(ctx, v.Command, diags),
			ExpectedExitCode: int(v.ExpectedExitCode.ValueInt64()),
			OutputPattern:    v.OutputPattern.ValueString(),
			Timeout:          v.Timeout.ValueString(),
		})
	}
	return t
}

// setComputed copies what the backend computed (id, digest, images) into the model.
func (m *workshopTemplateModel) setComputed(ctx context.Context, t *workshop.Template, diags *diag.Diagnostics) {
	m.ID = types.StringValue(t.ID)
	m.Digest = types.StringValue(t.Digest)
	images, d := types.MapValueFrom(ctx, types.StringType, t.Images)
	if t.Images == nil {
		images, d = types.MapValue(types.StringType, map[string]attr.Value{})
	}
	diags.Append(d...)
	m.Images = images
	m.ComposeBuilds = composeBuildsValue(ctx, t.ComposeBuilds, diags)
}

// fromTemplate refreshes every attribute from a stored template. prior (the state, or
// an empty model on import) keeps the distinction between null and empty values the
// configuration used, so that a refresh never shows a spurious diff.
func templateModelFrom(ctx context.Context, t *workshop.Template, prior *workshopTemplateModel, diags *diag.Diagnostics) workshopTemplateModel {
	imported := prior == nil
	if imported {
		prior = &workshopTemplateModel{Timeouts: timeouts.Value{Object: types.ObjectNull(timeoutsAttrTypes(ctx))}}
	}
	pw := prior.workspace(ctx, diags)
	if pw == nil {
		pw = &workspaceModel{}
	}
	m := workshopTemplateModel{
		Name:               types.StringValue(t.Name),
		InfrastructureType: types.StringValue(string(t.Infrastructure)),
		Isolation:          optString(string(t.Isolation), types.StringNull()),
		Manifests:          optString(t.Manifests, prior.Manifests),
		Compose:            optString(t.Compose, prior.Compose),
		ComposeDirectory:   optString(t.ComposeDir, prior.ComposeDirectory),
		Duration:           types.StringValue(t.Duration),
		PodSecurity:        optString(t.PodSecurity, prior.PodSecurity),
		DockerInDocker:     types.BoolValue(t.DockerInDocker),
		PrePull:            prior.PrePull,
		WarmPool:           types.Int64Value(int64(t.WarmPool)),
		Egress:             types.StringNull(),
		VClusterValues:     optString(t.VClusterValues, prior.VClusterValues),
		Instructions:       optString(t.Instructions, prior.Instructions),
		Timeouts:           prior.Timeouts,
	}
	m.PlacementConstraints = placementConstraintsValue(ctx, t.PlacementConstraints, prior.PlacementConstraints, diags)
	m.schedulingFromTemplate(ctx, t, prior, diags)
	if t.Duration == "" {
		m.Duration = types.StringValue(workshop.DefaultDuration)
	}
	if m.PrePull.IsNull() || m.PrePull.IsUnknown() {
		// An action at create, not live state: imported (or older) states get the default.
		m.PrePull = types.BoolValue(true)
	}
	if t.Infrastructure == workshop.InfraDocker {
		m.Egress = types.StringValue(string(t.EffectiveEgress()))
	}
	m.EffectiveResources = resourcesModelOf(t.Resources).object(diags)
	// resources is configuration only: kept from the state; an import guesses it as the
	// values that differ from the backend defaults.
	m.Resources = prior.Resources
	if imported {
		m.Resources = resourcesMap(nonDefaultResources(t.Resources, t.Infrastructure), diags)
	}

	// Workspace.
	build := types.ObjectNull(buildAttrTypes)
	if b := t.Workspace.Build; b != nil {
		pb := pw.build(ctx, diags)
		if pb == nil {
			pb = &buildModel{}
		}
		df := b.Dockerfile
		if df == "" {
			df = workshop.DefaultDockerfile
		}
		obj, d := types.ObjectValue(buildAttrTypes, map[string]attr.Value{
			"context":        types.StringValue(b.Context),
			"dockerfile":     types.StringValue(df),
			"args":           stringMap(ctx, b.Args, pb.Args, diags),
			"context_sha256": optString(b.ContextDigest, types.StringNull()),
		})
		diags.Append(d...)
		build = obj
	}
	ports := types.ListNull(types.Int64Type)
	if len(t.Workspace.Ports) > 0 || (!pw.Ports.IsNull() && !pw.Ports.IsUnknown() && len(pw.Ports.Elements()) == 0) {
		ps := make([]int64, len(t.Workspace.Ports))
		for i, p := range t.Workspace.Ports {
			ps[i] = int64(p)
		}
		l, d := types.ListValueFrom(ctx, types.Int64Type, ps)
		diags.Append(d...)
		ports = l
	}
	ws, d := types.ObjectValue(workspaceAttrTypes, map[string]attr.Value{
		"image":       optString(t.Workspace.Image, pw.Image),
		"build":       build,
		"command":     stringList(ctx, t.Workspace.Command, pw.Command, diags),
		"env":         stringMap(ctx, t.Workspace.Env, pw.Env, diags),
		"user":        optString(t.Workspace.User, pw.User),
		"working_dir": optString(t.Workspace.WorkingDir, pw.WorkingDir),
		"ports":       ports,
	})
	diags.Append(d...)
	m.Workspace = ws

	// Validations.
	pv := prior.validations(ctx, diags)
	if len(t.Validations) == 0 && !(!prior.Validations.IsNull() && !prior.Validations.IsUnknown() && len(pv) == 0) {
		m.Validations = types.ListNull(types.ObjectType{AttrTypes: validationAttrTypes})
	} else {
		vals := make([]attr.Value, 0, len(t.Validations))
		for i, v := range t.Validations {
			p := validationModel{Command: types.ListNull(types.StringType), OutputPattern: types.StringNull()}
			if i < len(pv) {
				p = pv[i]
			}
			timeout := v.Timeout
			if timeout == "" {
				timeout = defaultValidationTimeout
			}
			o, d := types.ObjectValue(validationAttrTypes, map[string]attr.Value{
				"name":               types.StringValue(v.Name),
				"command":            stringList(ctx, v.Command, p.Command, diags),
				"expected_exit_code": types.Int64Value(int64(v.ExpectedExitCode)),
				"output_pattern":     optString(v.OutputPattern, p.OutputPattern),
				"timeout":            types.StringValue(timeout),
			})
			diags.Append(d...)
			vals = append(vals, o)
		}
		l, d := types.ListValue(types.ObjectType{AttrTypes: validationAttrTypes}, vals)
		diags.Append(d...)
		m.Validations = l
	}
	m.setComputed(ctx, t, diags)
	return m
}

// timeoutsAttrTypes are the attribute types of the timeouts object.
func timeoutsAttrTypes(_ context.Context) map[string]attr.Type {
	return map[string]attr.Type{
		"create": types.StringType, "read": types.StringType, "update": types.StringType, "delete": types.StringType,
	}
}

// composeBuildsValue is the compose_builds attribute: null when no service is built.
func composeBuildsValue(ctx context.Context, builds map[string]string, diags *diag.Diagnostics) types.Map {
	if len(builds) == 0 {
		return types.MapNull(types.StringType)
	}
	v, d := types.MapValueFrom(ctx, types.StringType, builds)
	diags.Append(d...)
	return v
}
