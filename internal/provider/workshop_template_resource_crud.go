package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/compose"
	"github.com/nalabo/terraform-provider-nalabo/internal/manifest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ resource.Resource                   = (*workshopTemplateResource)(nil)
	_ resource.ResourceWithConfigure      = (*workshopTemplateResource)(nil)
	_ resource.ResourceWithImportState    = (*workshopTemplateResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*workshopTemplateResource)(nil)
	_ resource.ResourceWithValidateConfig = (*workshopTemplateResource)(nil)
)

// NewWorkshopTemplateResource is the nalabo_workshop_template resource.
func NewWorkshopTemplateResource() resource.Resource { return &workshopTemplateResource{} }

type workshopTemplateResource struct {
	data *providerData
}

func (r *workshopTemplateResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workshop_template"
}

func (r *workshopTemplateResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig checks what single-attribute validators cannot: attributes that only
// apply to one infrastructure type, unsupported features, unique check names.
func (r *workshopTemplateResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m workshopTemplateModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	set := func(v attr.Value) bool { return v != nil && !v.IsNull() }

	if knownString(m.Compose) && knownString(m.InfrastructureType) &&
		m.InfrastructureType.ValueString() == string(workshop.InfraDocker) && !m.ComposeDirectory.IsUnknown() {
		validateCompose(ctx, m, &resp.Diagnostics)
	}
	if knownString(m.InfrastructureType) && m.InfrastructureType.ValueString() != string(workshop.InfraKubernetes) &&
		!m.WarmPool.IsNull() && !m.WarmPool.IsUnknown() && m.WarmPool.ValueInt64() > 0 {
		resp.Diagnostics.AddAttributeError(path.Root("warm_pool"), "Attribute applies to kubernetes templates only",
			fmt.Sprintf("warm_pool keeps started kubernetes sessions (namespaces or vClusters) ready to claim; this template has "+
				"infrastructure_type = %q, whose sessions start in seconds anyway. Remove warm_pool.", m.InfrastructureType.ValueString()))
	}
	if knownString(m.InfrastructureType) {
		ws := m.workspace(ctx, &resp.Diagnostics)
		validateSwarmTemplate(m, ws, &resp.Diagnostics)
		validateScheduling(ctx, m, &resp.Diagnostics)
		switch workshop.InfrastructureType(m.InfrastructureType.ValueString()) {
		case workshop.InfraDocker:
			for name, v := range map[string]attr.Value{"isolation": m.Isolation, "manifests": m.Manifests, "pod_security": m.PodSecurity, "vcluster_values": m.VClusterValues} {
				if set(v) {
					resp.Diagnostics.AddAttributeError(path.Root(name), "Attribute applies to kubernetes templates only",
						fmt.Sprintf("%s applies to kubernetes templates only; this template has infrastructure_type = \"docker\".", name))
				}
			}
			if knownString(m.Egress) && m.Egress.ValueString() == string(workshop.EgressNone) && ws != nil &&
				!ws.Ports.IsNull() && !ws.Ports.IsUnknown() && len(ws.Ports.Elements()) > 0 {
				resp.Diagnostics.AddAttributeError(path.Root("workspace").AtName("ports"), "Ports cannot be published with egress \"none\"",
					"workspace.ports: egress = \"none\" puts the session on an internal network, where no port can be "+
						"published. Remove the ports, or choose egress = \"restricted\" (the default).")
			}
		case workshop.InfraKubernetes:
			if set(m.Compose) {
				resp.Diagnostics.AddAttributeError(path.Root("compose"), "Attribute applies to docker templates only",
					"compose applies to docker templates only; kubernetes templates use manifests.")
			}
			if ws != nil && set(ws.Build) {
				resp.Diagnostics.AddAttributeError(path.Root("workspace").AtName("build"), "Attribute applies to docker templates only",
					"workspace.build is supported for docker templates only; give workspace.image (built and pushed to a registry the cluster can pull from).")
			}
			if !m.DockerInDocker.IsNull() && !m.DockerInDocker.IsUnknown() && m.DockerInDocker.ValueBool() {
				resp.Diagnostics.AddAttributeError(path.Root("docker_in_docker"), "Attribute applies to docker templates only",
					"docker_in_docker applies to docker templates only.")
			}
			if set(m.Egress) {
				resp.Diagnostics.AddAttributeError(path.Root("egress"), "Attribute applies to docker templates only",
					"egress applies to docker templates only; kubernetes sessions' traffic is governed by NetworkPolicy.")
			}
			if knownString(m.Manifests) && !m.Isolation.IsUnknown() {
				validateManifestsAttr(m.Manifests.ValueString(), workshop.Isolation(m.Isolation.ValueString()), &resp.Diagnostics)
			}
			// Unset isolation is the kubernetes default, vcluster.
			if set(m.VClusterValues) && knownString(m.Isolation) && m.Isolation.ValueString() != string(workshop.IsolationVCluster) {
				resp.Diagnostics.AddAttributeError(path.Root("vcluster_values"), "Attribute applies to vcluster isolation only",
					fmt.Sprintf("vcluster_values configures the vCluster chart of isolation = \"vcluster\" sessions; this template has isolation = %q.", m.Isolation.ValueString()))
			}
		}
	}
	seen := map[string]int{}
	for i, v := range m.validations(ctx, &resp.Diagnostics) {
		if !knownString(v.Name) {
			continue
		}
		if j, dup := seen[v.Name.ValueString()]; dup {
			resp.Diagnostics.AddAttributeError(path.Root("validations").AtListIndex(i).AtName("name"), "Duplicate validation name",
				fmt.Sprintf("validations[%d].name: %q is already the name of validations[%d].", i, v.Name.ValueString(), j))
			continue
		}
		seen[v.Name.ValueString()] = i
	}
}

// ModifyPlan fills the infrastructure's defaults, hashes the build context (so a
// changed file changes the digest) and tells Terraform whether id, digest and images
// will change.
func (r *workshopTemplateResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan, config workshopTemplateModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}

	// Infrastructure defaults: isolation and effective resources follow the configuration
	// (an attribute removed from it goes back to the default).
	if knownString(plan.InfrastructureType) {
		infra := workshop.InfrastructureType(plan.InfrastructureType.ValueString())
		switch {
		case !config.Isolation.IsNull():
			plan.Isolation = config.Isolation
		case infra == workshop.InfraKubernetes:
			plan.Isolation = types.StringValue(string(workshop.IsolationVCluster))
		default:
			plan.Isolation = types.StringNull()
		}
		switch {
		case !config.Egress.IsNull():
			plan.Egress = config.Egress
		case infra == workshop.InfraDocker:
			plan.Egress = types.StringValue(string(workshop.EgressRestricted))
		default:
			plan.Egress = types.StringNull()
		}
		def := workshop.DefaultResources(infra)
		cfg := resourcesFromMap(config.Resources)
		pick := func(c types.String, d string) types.String {
			if c.IsNull() {
				return types.StringValue(d)
			}
			return c
		}
		eff := resourcesModel{
			CPU:     pick(cfg.CPU, def.CPU),
			Memory:  pick(cfg.Memory, def.Memory),
			Storage: pick(cfg.Storage, def.Storage),
		}
		eff.GPU, eff.GPUResource = effectiveGPU(cfg.GPU, cfg.GPUResource)
		plan.EffectiveResources = eff.object(&resp.Diagnostics)
	}

	// Digest rules: content only for new and owned templates, the legacy rules for a
	// template stored before ownership (so that it keeps its ID).
	rules := workshop.RulesContent
	var state *workshopTemplateModel
	if !req.State.Raw.IsNull() {
		state = new(workshopTemplateModel)
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if resp.Diagnostics.HasError() {
			return
		}
		rules = workshop.RulesOf(workshop.TemplateOwnerOf(state.ID.ValueString()))
	}

	// Build context hash, at plan time.
	if ws := plan.workspace(ctx, &resp.Diagnostics); ws != nil {
		if b := ws.build(ctx, &resp.Diagnostics); b != nil {
			b.ContextSHA256 = types.StringUnknown()
			if knownString(b.Context) && !b.Dockerfile.IsUnknown() {
				sum, err := workshop.HashBuildContextWith(rules, b.Context.ValueString(), b.Dockerfile.ValueString())
				if err != nil {
					resp.Diagnostics.AddAttributeError(path.Root("workspace").AtName("build").AtName("context"),
						"Invalid build context", "workspace.build.context: "+err.Error())
					return
				}
				b.ContextSHA256 = types.StringValue(sum)
			}
			obj, d := types.ObjectValueFrom(ctx, buildAttrTypes, b)
			resp.Diagnostics.Append(d...)
			ws.Build = obj
			wobj, d := types.ObjectValueFrom(ctx, workspaceAttrTypes, ws)
			resp.Diagnostics.Append(d...)
			plan.Workspace = wobj
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}

	// Compose build contexts, hashed at plan time.
	plan.ComposeBuilds = types.MapNull(types.StringType)
	if plan.Compose.IsUnknown() || plan.ComposeDirectory.IsUnknown() {
		plan.ComposeBuilds = types.MapUnknown(types.StringType)
	} else if knownString(plan.Compose) {
		p, ok := parseComposeAttr(ctx, plan.Compose.ValueString(), plan.Name.ValueString(), plan.ComposeDirectory.ValueString(), &resp.Diagnostics)
		if !ok {
			return
		}
		builds, err := compose.HashBuilds(p, rules)
		if err != nil {
			addComposeError(&resp.Diagnostics, err)
			return
		}
		plan.ComposeBuilds = composeBuildsValue(ctx, builds, &resp.Diagnostics)
	}

	r.warnOpenEgress(ctx, plan, &resp.Diagnostics)

	// id, digest, images: unknown when something digest-shaping changes, else kept.
	if state != nil {
		changed := changedDigestAttributes(ctx, plan, *state, rules)
		if len(changed) > 0 {
			tflog.Debug(ctx, "template digest will change", map[string]any{"template_id": state.ID.ValueString(), "changed": changed})
			plan.ID = types.StringUnknown()
			plan.Digest = types.StringUnknown()
			plan.Images = types.MapUnknown(types.StringType)
		} else {
			plan.ID, plan.Digest, plan.Images = state.ID, state.Digest, state.Images
		}
	}
	if plan.ID.IsUnknown() && knownString(plan.InfrastructureType) && knownString(plan.Name) {
		// Sessions planned with this template see an unknown template_id: admission
		// takes their size from here.
		res := resourcesFrom(ctx, plan.EffectiveResources, &resp.Diagnostics)
		if knownString(res.CPU) && knownString(res.Memory) {
			r.data.recordPlannedTemplate(workshop.InfrastructureType(plan.InfrastructureType.ValueString()), plan.Name.ValueString(), res.workshop())
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// warnOpenEgress warns when a docker template with egress "open" publishes ports on
// every host address: its sessions reach each other's ports through the host.
func (r *workshopTemplateResource) warnOpenEgress(ctx context.Context, plan workshopTemplateModel, diags *diag.Diagnostics) {
	if r.data == nil || !knownString(plan.Egress) || plan.Egress.ValueString() != string(workshop.EgressOpen) {
		return
	}
	bind, err := netip.ParseAddr(r.data.dockerBindAddress)
	if err != nil || !bind.IsUnspecified() {
		return
	}
	ports := false
	if ws := plan.workspace(ctx, diags); ws != nil && !ws.Ports.IsNull() && len(ws.Ports.Elements()) > 0 {
		ports = true
	}
	if knownString(plan.Compose) && strings.Contains(plan.Compose.ValueString(), "ports") {
		if p, err := compose.Parse(ctx, plan.Compose.ValueString(), compose.Options{ProjectName: "nalabo", Dir: plan.ComposeDirectory.ValueString()}); err == nil {
			for _, s := range p.Services {
				ports = ports || len(s.Ports) > 0
			}
		}
	}
	if ports {
		diags.AddAttributeWarning(path.Root("egress"), "Sessions can reach each other's published ports",
			fmt.Sprintf("egress = \"open\" with docker.bind_address = %q: every session's ports are published on every host "+
				"address, and sessions of this template can reach the other sessions' ports (and the host's services, and the "+
				"cloud metadata endpoint) through them. Use egress = \"restricted\" (the default) unless the participants "+
				"must reach each other.", r.data.dockerBindAddress))
	}
}

func (r *workshopTemplateResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan workshopTemplateModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, templateCreateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Every resource instance owns its stored copy: two states (or two resources)
	// declaring the same template never share, and so never remove, each other's.
	b := r.apply(ctx, &plan, workshop.NewTemplateOwner(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if a, ok := b.(workshop.TemplateAdopter); ok {
		r.adoptOrphan(ctx, b, a, &plan, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		workshop.RecordTemplateCreated(a, plan.ID.ValueString())
	}
	r.resizePool(ctx, b, &plan, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// adoptOrphan replaces the copy just created by an orphaned copy of the same template
// (same name and digest), left by a Terraform that died before saving its state: the
// resource takes that copy's ID, and the re-apply's sessions adopt the complete
// sessions built from it instead of building second ones.
func (r *workshopTemplateResource) adoptOrphan(ctx context.Context, b backendImpl, a workshop.TemplateAdopter, plan *workshopTemplateModel, diags *diag.Diagnostics) {
	created := plan.ID.ValueString()
	orphan, err := a.OrphanedTemplate(ctx, plan.Name.ValueString(), plan.Digest.ValueString())
	if err != nil || orphan == "" || orphan == created {
		if err != nil {
			tflog.Warn(ctx, "looking for an orphaned copy of the template failed", map[string]any{"error": err.Error()})
		}
		return
	}
	t, err := b.GetTemplate(ctx, orphan)
	if err != nil {
		tflog.Warn(ctx, "an orphaned copy of the template cannot be read; not adopted", map[string]any{"template_id": orphan, "error": err.Error()})
		return
	}
	if err := a.ClaimTemplate(ctx, orphan); err != nil {
		addBackendError(diags, "adopt the orphaned template copy "+orphan, err)
		return
	}
	if err := b.DeleteTemplate(ctx, created); err != nil {
		tflog.Warn(ctx, "removing the copy replaced by an adopted one failed", map[string]any{"template_id": created, "error": err.Error()})
	}
	plan.setComputed(ctx, t, diags)
	tflog.Info(ctx, "adopted the template copy of an interrupted apply", map[string]any{"template_id": orphan})
}

func (r *workshopTemplateResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state workshopTemplateModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, templateUpdateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	plannedID := plan.ID
	b := r.apply(ctx, &plan, workshop.TemplateOwnerOf(state.ID.ValueString()), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if knownString(plannedID) && plannedID.ValueString() != plan.ID.ValueString() {
		// Only validations changed, yet the digest moved: an image the template names
		// now resolves to another image ID on the host. Save the truth and say so.
		resp.Diagnostics.AddError("Template images changed on the host",
			fmt.Sprintf("Only validations changed, so the template was expected to keep the ID %s, but it is now %s: "+
				"an image it names resolves to a different image ID on the host than when it was created. "+
				"The new ID is saved; run terraform apply again to replace the sessions built from the old one.",
				plannedID.ValueString(), plan.ID.ValueString()))
	}
	// The previous version is no longer referenced once the ID changed. Its built image
	// may still run in sessions that Terraform replaces only after this update, so a
	// failed removal is remembered in private state and retried on the next update and
	// on delete.
	superseded := supersededTemplates(ctx, req.Private, &resp.Diagnostics)
	if knownString(state.ID) && state.ID.ValueString() != plan.ID.ValueString() {
		superseded = append(superseded, state.ID.ValueString())
	}
	remaining := deleteTemplates(ctx, b, superseded, plan.ID.ValueString())
	resp.Diagnostics.Append(setSupersededTemplates(ctx, resp.Private, remaining)...)
	r.resizePool(ctx, b, &plan, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// privateSupersededKey holds the IDs of earlier versions whose removal failed.
const privateSupersededKey = "superseded_templates"

type privateGetter interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

type privateSetter interface {
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

func supersededTemplates(ctx context.Context, p privateGetter, diags *diag.Diagnostics) []string {
	if p == nil {
		return nil
	}
	raw, d := p.GetKey(ctx, privateSupersededKey)
	diags.Append(d...)
	var ids []string
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &ids)
	}
	return ids
}

func setSupersededTemplates(ctx context.Context, p privateSetter, ids []string) diag.Diagnostics {
	if p == nil {
		return nil
	}
	if len(ids) == 0 {
		return p.SetKey(ctx, privateSupersededKey, nil)
	}
	raw, _ := json.Marshal(ids)
	return p.SetKey(ctx, privateSupersededKey, raw)
}

// deleteTemplates removes stored template versions (never keep) and returns the IDs
// whose removal failed.
func deleteTemplates(ctx context.Context, b backendImpl, ids []string, keep string) []string {
	var failed []string
	for _, id := range ids {
		if id == keep || id == "" {
			continue
		}
		if err := b.DeleteTemplate(ctx, id); err != nil {
			tflog.Debug(ctx, "removing a superseded template version failed; will retry", map[string]any{"template_id": id, "error": err.Error()})
			failed = append(failed, id)
			continue
		}
		tflog.Info(ctx, "removed superseded template version", map[string]any{"template_id": id})
	}
	return failed
}

// apply sends the planned template, stored as owner's copy ("" for a legacy
// template), to its backend and fills id, digest and images.
func (r *workshopTemplateResource) apply(ctx context.Context, plan *workshopTemplateModel, owner string, diags *diag.Diagnostics) backendImpl {
	t := plan.toTemplate(ctx, diags)
	if diags.HasError() {
		return nil
	}
	t.Owner = owner
	if err := t.Validate(); err != nil {
		addBackendError(diags, "apply the template", err)
		return nil
	}
	b, bd := r.data.Backend(ctx, t.Infrastructure)
	diags.Append(bd...)
	if diags.HasError() {
		return nil
	}
	tflog.Info(ctx, "applying workshop template", map[string]any{
		"template_name": t.Name, "infrastructure_type": string(t.Infrastructure),
		"workspace_image": t.WorkspaceImage(), "validations": len(t.Validations),
	})
	sealed, err := b.ApplyTemplate(ctx, &t)
	if err != nil {
		addBackendError(diags, "apply the template "+t.Name, err)
		return nil
	}
	plan.setComputed(ctx, sealed, diags)
	tflog.Info(ctx, "applied workshop template", map[string]any{"template_id": sealed.ID, "digest": sealed.Digest})
	return b
}

func (r *workshopTemplateResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state workshopTemplateModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Read(ctx, templateReadTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	t, found := r.get(ctx, state.ID.ValueString(), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !found {
		tflog.Warn(ctx, "workshop template not found; removing it from state", map[string]any{"template_id": state.ID.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	// A state holds this copy: it is nobody's orphan.
	if b, bd := r.data.Backend(ctx, t.Infrastructure); !bd.HasError() {
		if a, ok := b.(workshop.TemplateAdopter); ok {
			if err := a.ClaimTemplate(ctx, t.ID); err != nil {
				tflog.Warn(ctx, "claiming the template copy failed", map[string]any{"template_id": t.ID, "error": err.Error()})
			}
		}
	}
	m := templateModelFrom(ctx, t, &state, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	r.readPool(ctx, t, &m)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// get reads a stored template; found is false when the backend does not know it.
func (r *workshopTemplateResource) get(ctx context.Context, id string, diags *diag.Diagnostics) (*workshop.Template, bool) {
	infra, _, _, err := workshop.ParseTemplateID(id)
	if err != nil {
		diags.AddAttributeError(path.Root("id"), "Invalid template ID", err.Error())
		return nil, false
	}
	b, bd := r.data.Backend(ctx, infra)
	diags.Append(bd...)
	if diags.HasError() {
		return nil, false
	}
	t, err := b.GetTemplate(ctx, id)
	if errors.Is(err, workshop.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		addBackendError(diags, "read the template "+id, err)
		return nil, false
	}
	return t, true
}

func (r *workshopTemplateResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state workshopTemplateModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, templateDeleteTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	infra, _, _, err := workshop.ParseTemplateID(state.ID.ValueString())
	if err != nil {
		return // nothing was ever stored under a malformed ID
	}
	b, bd := r.data.Backend(ctx, infra)
	resp.Diagnostics.Append(bd...)
	if resp.Diagnostics.HasError() {
		return
	}
	tflog.Info(ctx, "deleting workshop template", map[string]any{"template_id": state.ID.ValueString()})
	if err := b.DeleteTemplate(ctx, state.ID.ValueString()); err != nil {
		addBackendError(&resp.Diagnostics, "delete the template "+state.ID.ValueString(), err)
		return
	}
	for _, id := range deleteTemplates(ctx, b, supersededTemplates(ctx, req.Private, &resp.Diagnostics), "") {
		resp.Diagnostics.AddWarning("Earlier template version not removed",
			fmt.Sprintf("The stored template version %s (superseded by an update) could not be removed; remove the objects labelled nalabo.io/template-id=%s by hand.", id, id))
	}
}

// ImportState imports a template by ID (nalabo_workshop_template.<name>.id).
func (r *workshopTemplateResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if _, _, _, err := workshop.ParseTemplateID(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID", err.Error())
		return
	}
	t, found := r.get(ctx, req.ID, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !found {
		resp.Diagnostics.AddError("Template not found",
			fmt.Sprintf("No stored template has the ID %q. Was it applied on this engine?", req.ID))
		return
	}
	m := templateModelFrom(ctx, t, nil, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// validateCompose parses and validates a docker template's Compose file: diagnostics on
// the compose attribute name the service and the problem. Services must fit the
// template's resources (or the Docker defaults) together with the workspace.
func validateCompose(ctx context.Context, m workshopTemplateModel, diags *diag.Diagnostics) {
	p, ok := parseComposeAttr(ctx, m.Compose.ValueString(), m.Name.ValueString(), m.ComposeDirectory.ValueString(), diags)
	if !ok {
		return
	}
	addComposeWarnings(diags, path.Root("compose"), "compose", p)
	if knownString(m.Egress) && m.Egress.ValueString() == string(workshop.EgressNone) {
		for _, s := range p.Services {
			if len(s.Ports) > 0 {
				diags.AddAttributeError(path.Root("compose"), "Ports cannot be published with egress \"none\"",
					fmt.Sprintf("compose: service %q publishes ports, but egress = \"none\" puts the session on an internal "+
						"network, where no port can be published. Remove its ports, or choose egress = \"restricted\" (the default).", s.Name))
			}
		}
	}
	r := resourcesFromMap(m.Resources)
	if r.CPU.IsUnknown() || r.Memory.IsUnknown() {
		return
	}
	res := r.workshop().Over(workshop.DefaultResources(workshop.InfraDocker))
	if _, err := res.Parse(); err != nil {
		return // the resources' own validators report it
	}
	if err := compose.CheckBudget(p, res); err != nil {
		addComposeError(diags, fmt.Errorf("%w (the template's resources: cpu %s, memory %s)", err, res.CPU, res.Memory))
	}
}

// parseComposeAttr parses the compose attribute; ok is false after adding diagnostics.
func parseComposeAttr(ctx context.Context, content, name, dir string, diags *diag.Diagnostics) (*compose.Project, bool) {
	if name == "" || workshop.ValidateTemplateName(name) != nil {
		name = "nalabo"
	}
	p, err := compose.Parse(ctx, content, compose.Options{ProjectName: name, Dir: dir})
	if err != nil {
		addComposeError(diags, err)
		return nil, false
	}
	return p, true
}

// addComposeWarnings adds one warning per Compose key the provider does not apply,
// naming the service and the key.
func addComposeWarnings(diags *diag.Diagnostics, p path.Path, attr string, proj *compose.Project) {
	for _, w := range proj.Warnings {
		diags.AddAttributeWarning(p, "Compose key not applied", attr+": "+w.Error())
	}
}

// addComposeError adds one diagnostic on the compose attribute per problem.
func addComposeError(diags *diag.Diagnostics, err error) {
	var de *compose.DirError
	if errors.As(err, &de) {
		return // compose_directory's validator reports it, on that attribute
	}
	probs := compose.Problems(err)
	if len(probs) == 0 {
		diags.AddAttributeError(path.Root("compose"), "Invalid Compose file", "compose: "+err.Error())
		return
	}
	suffix := ""
	if u, ok := err.(interface{ Unwrap() error }); ok && len(probs) == 1 && u.Unwrap() != nil {
		// A wrapped problem: keep the wrapper's context.
		suffix = strings.TrimPrefix(err.Error(), probs[0].Error())
	}
	for _, p := range probs {
		diags.AddAttributeError(path.Root("compose"), "Invalid Compose file", "compose: "+p.Error()+suffix)
	}
}

// validateManifestsAttr checks a kubernetes template's manifests at plan time: every
// document parses and has apiVersion, kind and metadata.name; in namespace isolation no
// document is cluster-scoped or names a namespace. Each problem names its document.
func validateManifestsAttr(content string, isolation workshop.Isolation, diags *diag.Diagnostics) {
	var err error
	if isolation == workshop.IsolationNamespace {
		err = manifest.ValidateNamespaced(content)
	} else {
		_, err = manifest.Parse(content)
	}
	if err == nil {
		return
	}
	for _, e := range splitJoined(err) {
		diags.AddAttributeError(path.Root("manifests"), "Invalid manifests", "manifests: "+e.Error())
	}
}
