package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/applycheck"
	"github.com/nalabo/terraform-provider-nalabo/internal/compose"
	"github.com/nalabo/terraform-provider-nalabo/internal/manifest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ resource.Resource                   = (*applyResource)(nil)
	_ resource.ResourceWithConfigure      = (*applyResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*applyResource)(nil)
	_ resource.ResourceWithValidateConfig = (*applyResource)(nil)
)

// Apply operation timeouts (a dockerfile apply builds an image).
const (
	applyCreateTimeout = 20 * time.Minute
	applyReadTimeout   = 5 * time.Minute
	applyUpdateTimeout = 20 * time.Minute
	applyDeleteTimeout = 10 * time.Minute
)

// defaultApplyService names the service of a dockerfile apply with run = true.
const defaultApplyService = "app"

// statusMissing is the status ReadConfig gives an object that is gone.
const statusMissing = "missing"

// NewApplyResource is the nalabo_apply resource.
func NewApplyResource() resource.Resource { return &applyResource{} }

type applyResource struct {
	data *providerData
}

type applyModel struct {
	ID            types.String   `tfsdk:"id"`
	SessionID     types.String   `tfsdk:"session_id"`
	Type          types.String   `tfsdk:"type"`
	Configuration types.String   `tfsdk:"configuration"`
	Context       types.String   `tfsdk:"context"`
	ContextSHA256 types.String   `tfsdk:"context_sha256"`
	Run           types.Bool     `tfsdk:"run"`
	ServiceName   types.String   `tfsdk:"service_name"`
	Objects       types.List     `tfsdk:"objects"`
	Image         types.String   `tfsdk:"image"`
	Timeouts      timeouts.Value `tfsdk:"timeouts"`
}

var objectAttrTypes = map[string]attr.Type{
	"kind": types.StringType, "name": types.StringType, "status": types.StringType,
}

func (r *applyResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_apply"
}

func (r *applyResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

var serviceNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (r *applyResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Applies a configuration to a live session (like the gateway's `POST /api/workshops/sessions/{id}/apply`) and tracks what it " +
			"created, so that an update prunes what the configuration no longer holds and destroy removes the rest " +
			"(and nothing else: never the template's services or the workspace). Every object carries the session's " +
			"labels plus `nalabo.io/apply=<id>`, and is removed with the session too.\n\n" +
			"- `compose` (Docker sessions): adds or changes services next to the workspace, with the same network, " +
			"labels, security defaults and limits as a template's services (the session's CPU and memory are shared " +
			"again between all its containers). A changed service's container is recreated.\n" +
			"- `dockerfile` (Docker sessions): builds an image tagged `nalabo-session-<session id>/<id>:latest` through " +
			"the Docker API; with `run = true` it also runs it as a service.\n" +
			"- `yaml` (Kubernetes sessions): server-side apply (field manager `nalabo`) of multi-document Kubernetes YAML " +
			"into the session's namespace, awaited the kstatus way. Validated at plan time; at apply a document that names " +
			"another namespace, a cluster-scoped kind (namespace isolation) or an object the apply does not own (the " +
			"workspace, the template's objects) is refused, naming the document. A Docker session refuses `yaml`.\n\n" +
			"An object removed outside Terraform shows in the plan as a re-apply. A failed apply removes what it " +
			"created in that run.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Apply ID: the value of the `nalabo.io/apply` label of every object it manages.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"session_id": schema.StringAttribute{
				MarkdownDescription: "`id` of the `nalabo_workshop_session` to apply to. Changing it replaces the resource.",
				Required:            true,
				Validators:          []validator.String{sessionID()},
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"type": schema.StringAttribute{
				MarkdownDescription: "What `configuration` is: `compose` (a Compose file), `dockerfile` (a Dockerfile) or " +
					"`yaml` (multi-document Kubernetes YAML). Changing it replaces the resource.",
				Required:      true,
				Validators:    []validator.String{stringvalidator.OneOf(workshop.ConfigTypes...)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"configuration": schema.StringAttribute{
				MarkdownDescription: "The Compose file, the Dockerfile or the YAML, usually `file(\"...\")`. Validated at plan " +
					"time: unknown Compose keys, `depends_on` cycles, services without an image, YAML that does not parse, " +
					"documents without `apiVersion`/`kind`.",
				Required:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
			},
			"context": schema.StringAttribute{
				MarkdownDescription: "A directory on the machine running Terraform: the build context of a `dockerfile` " +
					"(without it, the build sees only the Dockerfile), or the directory a `compose` file's relative paths " +
					"resolve against (build contexts, bind mounts; bind mounts from anywhere else are refused). " +
					"Its files count towards `context_sha256`." + hostDirDoc,
				Optional:   true,
				Validators: []validator.String{stringvalidator.LengthAtLeast(1), hostDirectory()},
			},
			"context_sha256": schema.StringAttribute{
				MarkdownDescription: "SHA-256 of the files under `context`, computed at plan time: a changed file applies again.",
				Computed:            true,
			},
			"run": schema.BoolAttribute{
				MarkdownDescription: "`dockerfile` only: also run the built image as a service named `service_name`. Default `false`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
			"service_name": schema.StringAttribute{
				MarkdownDescription: "`dockerfile` with `run` only: the service's name (its DNS name on the session network " +
					"and the `nalabo-session-<id>-<service_name>` container). Default `" + defaultApplyService + "`.",
				Optional: true,
				Validators: []validator.String{stringvalidator.RegexMatches(serviceNameRE,
					"must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit")},
			},
			"objects": schema.ListNestedAttribute{
				MarkdownDescription: "What the apply manages now, sorted by kind and name.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"kind": schema.StringAttribute{
						MarkdownDescription: "`container`, `volume` or `image` on Docker; on Kubernetes the object's kind, bare for the core group (`ConfigMap`) and `Kind.group` otherwise (`Deployment.apps`).",
						Computed:            true,
					},
					"name": schema.StringAttribute{
						MarkdownDescription: "The object's name (an image's tag).",
						Computed:            true,
					},
					"status": schema.StringAttribute{
						MarkdownDescription: "`running`, `healthy`, `exited`, `present`, ...; `missing` when it was removed outside Terraform (the next apply re-applies).",
						Computed:            true,
					},
				}},
			},
			"image": schema.StringAttribute{
				MarkdownDescription: "`dockerfile` only: the tag of the built image, `nalabo-session-<session id>/<id>:latest`.",
				Computed:            true,
			},
			"timeouts": timeoutsAttribute(ctx, applyCreateTimeout, applyReadTimeout, applyUpdateTimeout, applyDeleteTimeout),
		},
	}
}

// ValidateConfig validates the configuration by its type, at plan time.
func (r *applyResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m applyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || !knownString(m.Type) {
		return
	}
	typ := m.Type.ValueString()
	if typ != workshop.ConfigDockerfile {
		if !m.Run.IsNull() && !m.Run.IsUnknown() && m.Run.ValueBool() {
			resp.Diagnostics.AddAttributeError(path.Root("run"), "Attribute applies to dockerfile only", "run applies to type = \"dockerfile\" only.")
		}
		if !m.ServiceName.IsNull() {
			resp.Diagnostics.AddAttributeError(path.Root("service_name"), "Attribute applies to dockerfile only", "service_name applies to type = \"dockerfile\" with run = true only.")
		}
	}
	if typ == workshop.ConfigYAML && !m.Context.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("context"), "Attribute does not apply to yaml", "context applies to compose and dockerfile only.")
	}
	if !knownString(m.Configuration) || m.Context.IsUnknown() {
		return
	}
	content := m.Configuration.ValueString()
	cfgPath := path.Root("configuration")
	switch typ {
	case workshop.ConfigCompose:
		proj, err := compose.Parse(ctx, content, compose.Options{ProjectName: "apply", Dir: m.Context.ValueString()})
		var de *compose.DirError
		switch {
		case errors.As(err, &de):
			// context's validator reports it, on that attribute.
		case err != nil:
			for _, p := range compose.Problems(err) {
				resp.Diagnostics.AddAttributeError(cfgPath, "Invalid Compose file", "configuration: "+p.Error())
			}
			if len(compose.Problems(err)) == 0 {
				resp.Diagnostics.AddAttributeError(cfgPath, "Invalid Compose file", "configuration: "+err.Error())
			}
		default:
			addComposeWarnings(&resp.Diagnostics, cfgPath, "configuration", proj)
		}
	case workshop.ConfigDockerfile:
		if err := applycheck.Dockerfile(content); err != nil {
			resp.Diagnostics.AddAttributeError(cfgPath, "Invalid Dockerfile", "configuration: "+err.Error())
		}
	case workshop.ConfigYAML:
		if _, err := manifest.Parse(content); err != nil {
			for _, e := range splitJoined(err) {
				resp.Diagnostics.AddAttributeError(cfgPath, "Invalid YAML", "configuration: "+e.Error())
			}
		}
	}
}

// splitJoined returns the errors of an errors.Join, or err itself.
func splitJoined(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}

// ModifyPlan hashes the context and plans a re-apply when the configuration changed or
// an object was removed outside Terraform; otherwise objects and image stay.
func (r *applyResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan applyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	switch {
	case plan.Context.IsUnknown():
		plan.ContextSHA256 = types.StringUnknown()
	case plan.Context.IsNull():
		plan.ContextSHA256 = types.StringNull()
	default:
		sum, err := workshop.HashDirectory(plan.Context.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("context"), "Invalid context", "context: "+err.Error())
			return
		}
		plan.ContextSHA256 = types.StringValue(sum)
	}
	if knownString(plan.Type) && plan.Type.ValueString() != workshop.ConfigDockerfile {
		plan.Image = types.StringNull()
	}
	if !req.State.Raw.IsNull() {
		var state applyModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() {
			return
		}
		// Where context sits is not compared, its files are (context_sha256): a
		// configuration moved to another directory (every HCP Terraform run) applies
		// nothing again.
		same := sameApplyContent(plan, state)
		if same && !hasMissing(ctx, state.Objects, &resp.Diagnostics) {
			plan.Objects, plan.Image = state.Objects, state.Image
		} else {
			plan.Objects = types.ListUnknown(types.ObjectType{AttrTypes: objectAttrTypes})
			if knownString(plan.Type) && plan.Type.ValueString() == workshop.ConfigDockerfile {
				plan.Image = types.StringUnknown()
			}
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// sameApplyContent: nothing to apply again between state and plan (the context's path
// aside).
func sameApplyContent(plan, state applyModel) bool {
	return valuesEqual(plan.Configuration, state.Configuration) && valuesEqual(plan.ContextSHA256, state.ContextSHA256) &&
		valuesEqual(plan.Run, state.Run) && (plan.Context.IsNull() == state.Context.IsNull()) &&
		(plan.ServiceName.IsNull() && state.ServiceName.IsNull() || valuesEqual(plan.ServiceName, state.ServiceName))
}

type objectModel struct {
	Kind   types.String `tfsdk:"kind"`
	Name   types.String `tfsdk:"name"`
	Status types.String `tfsdk:"status"`
}

func objectsFrom(ctx context.Context, l types.List, diags *diag.Diagnostics) []workshop.Object {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var ms []objectModel
	diags.Append(l.ElementsAs(ctx, &ms, false)...)
	out := make([]workshop.Object, 0, len(ms))
	for _, m := range ms {
		out = append(out, workshop.Object{Kind: m.Kind.ValueString(), Name: m.Name.ValueString(), Status: m.Status.ValueString()})
	}
	return out
}

func hasMissing(ctx context.Context, l types.List, diags *diag.Diagnostics) bool {
	for _, o := range objectsFrom(ctx, l, diags) {
		if o.Status == statusMissing {
			return true
		}
	}
	return false
}

func objectsValue(ctx context.Context, objs []workshop.Object, diags *diag.Diagnostics) types.List {
	ms := make([]objectModel, 0, len(objs))
	for _, o := range objs {
		ms = append(ms, objectModel{Kind: types.StringValue(o.Kind), Name: types.StringValue(o.Name), Status: types.StringValue(o.Status)})
	}
	l, d := types.ListValueFrom(ctx, types.ObjectType{AttrTypes: objectAttrTypes}, ms)
	diags.Append(d...)
	return l
}

// configOf builds the backend's configuration from a plan.
func (m *applyModel) configOf(id string) *workshop.Config {
	cfg := &workshop.Config{
		ID: id, Type: m.Type.ValueString(), Content: m.Configuration.ValueString(),
		ContextDir: m.Context.ValueString(), Run: m.Run.ValueBool(), ServiceName: m.ServiceName.ValueString(),
	}
	if cfg.Run && cfg.ServiceName == "" {
		cfg.ServiceName = defaultApplyService
	}
	return cfg
}

// inventoryOf is the inventory a state records.
func (m *applyModel) inventoryOf(ctx context.Context, diags *diag.Diagnostics) *workshop.Inventory {
	return &workshop.Inventory{ApplyID: m.ID.ValueString(), Objects: objectsFrom(ctx, m.Objects, diags), Image: m.Image.ValueString()}
}

// requireConfigurator is configurator for Create and Update, where a missing session is
// an error on session_id.
func (r *applyResource) requireConfigurator(ctx context.Context, sessionID string, diags *diag.Diagnostics) (workshop.Configurator, bool) {
	c, found := r.configurator(ctx, sessionID, diags)
	if diags.HasError() {
		return nil, false
	}
	if !found {
		diags.AddAttributeError(path.Root("session_id"), "Session not found",
			fmt.Sprintf("session_id: no configured backend has a session %q.", sessionID))
		return nil, false
	}
	return c, true
}

// configurator finds the session's backend and checks it can apply configurations.
// found is false (without an error) when no backend knows the session.
func (r *applyResource) configurator(ctx context.Context, sessionID string, diags *diag.Diagnostics) (workshop.Configurator, bool) {
	b, s, d := r.data.FindSession(ctx, sessionID)
	diags.Append(d...)
	if diags.HasError() || s == nil {
		return nil, false
	}
	c, ok := b.(workshop.Configurator)
	if !ok {
		diags.AddAttributeError(path.Root("session_id"), "Backend cannot apply configurations",
			fmt.Sprintf("session_id: session %s runs on %s, whose backend in this provider version cannot apply configurations.", sessionID, b.Type()))
		return nil, false
	}
	return c, true
}

func (r *applyResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan applyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, applyCreateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, ok := r.requireConfigurator(ctx, plan.SessionID.ValueString(), &resp.Diagnostics)
	if !ok {
		return
	}
	id := randomHex(8)
	r.apply(ctx, c, &plan, id, nil, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *applyResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state applyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, applyUpdateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if sameApplyContent(plan, state) && !plan.Objects.IsUnknown() {
		// Only the context's path changed: record it, apply nothing.
		tflog.Info(ctx, "configuration moved, content unchanged; nothing to apply", map[string]any{"apply_id": state.ID.ValueString()})
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		return
	}
	c, ok := r.requireConfigurator(ctx, plan.SessionID.ValueString(), &resp.Diagnostics)
	if !ok {
		return
	}
	r.apply(ctx, c, &plan, state.ID.ValueString(), state.inventoryOf(ctx, &resp.Diagnostics), &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// apply runs ApplyConfig and fills the computed attributes.
func (r *applyResource) apply(ctx context.Context, c workshop.Configurator, plan *applyModel, id string, prev *workshop.Inventory, diags *diag.Diagnostics) {
	sid := plan.SessionID.ValueString()
	cfg := plan.configOf(id)
	fields := map[string]any{"session_id": sid, "apply_id": id, "type": cfg.Type, "context": cfg.ContextDir, "run": cfg.Run}
	tflog.Info(ctx, "applying configuration to session", fields)
	inv, err := c.ApplyConfig(ctx, sid, cfg, prev)
	if err != nil {
		if fes := fieldErrors(err); len(fes) > 0 {
			for _, fe := range fes {
				diags.AddAttributeError(hclPath(fe.Path), "Cannot apply the "+cfg.Type+" configuration", fe.Path+": "+fe.Msg)
			}
			return
		}
		addBackendError(diags, fmt.Sprintf("apply the %s configuration to session %s", cfg.Type, sid), err)
		return
	}
	fields["objects"] = len(inv.Objects)
	tflog.Info(ctx, "applied configuration to session", fields)
	plan.ID = types.StringValue(id)
	plan.Objects = objectsValue(ctx, inv.Objects, diags)
	if cfg.Type == workshop.ConfigDockerfile {
		plan.Image = types.StringValue(inv.Image)
	} else {
		plan.Image = types.StringNull()
	}
}

func (r *applyResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state applyModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Read(ctx, applyReadTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sid := state.SessionID.ValueString()
	c, found := r.configurator(ctx, sid, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !found {
		tflog.Warn(ctx, "the session of an apply is gone; removing the apply from state", map[string]any{"session_id": sid, "apply_id": state.ID.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	inv, err := c.ReadConfig(ctx, sid, state.inventoryOf(ctx, &resp.Diagnostics))
	if errors.Is(err, workshop.ErrNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "read the apply "+state.ID.ValueString(), err)
		return
	}
	state.Objects = objectsValue(ctx, inv.Objects, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *applyResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state applyModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, applyDeleteTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sid := state.SessionID.ValueString()
	c, found := r.configurator(ctx, sid, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || !found {
		return // a session that is gone took the apply's objects with it
	}
	tflog.Info(ctx, "removing applied configuration", map[string]any{"session_id": sid, "apply_id": state.ID.ValueString()})
	if err := c.DeleteConfig(ctx, sid, state.inventoryOf(ctx, &resp.Diagnostics)); err != nil {
		addBackendError(&resp.Diagnostics, "remove the apply "+state.ID.ValueString(), err)
	}
}
