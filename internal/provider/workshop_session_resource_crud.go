package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ resource.Resource                = (*workshopSessionResource)(nil)
	_ resource.ResourceWithConfigure   = (*workshopSessionResource)(nil)
	_ resource.ResourceWithImportState = (*workshopSessionResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*workshopSessionResource)(nil)
)

// NewWorkshopSessionResource is the nalabo_workshop_session resource.
func NewWorkshopSessionResource() resource.Resource { return &workshopSessionResource{} }

type workshopSessionResource struct {
	data *providerData
	// now is the clock (tests replace it).
	now func() time.Time
}

func (r *workshopSessionResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_workshop_session"
}

func (r *workshopSessionResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *workshopSessionResource) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// ModifyPlan: unset resources and duration follow the template (so a limit changed
// outside Terraform is put back), expires_at follows duration, a storage change
// replaces a Docker session, a degraded session (part of it removed outside
// Terraform) is replaced so that Delete cleans the remains and Create builds anew, and
// a vcluster session follows the provider's vCluster settings (planVCluster), and
// what the session adds must fit its backend (admitSession).
func (r *workshopSessionResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan, config workshopSessionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}

	if req.State.Raw.IsNull() {
		planSessionCreate(&plan, &resp.Diagnostics)
		planPersistence(&plan, nil, &resp.Diagnostics)
		plan.AccessURL = r.data.accessURL(plan.ID, plan.ExpiresAt)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		if counted, d := req.Private.GetKey(ctx, privateAdmissionKey); len(counted) > 0 && !d.HasError() {
			// The create half of a replacement (Terraform plans it again with a null
			// prior state and the private data of the first call): counted there.
			if resp.Private != nil {
				resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateAdmissionKey, nil)...)
			}
			return
		}
		r.data.admitSession(ctx, plan, nil, &resp.Diagnostics)
		return
	}

	var state workshopSessionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	inherited := getInherited(ctx, req.Private, &resp.Diagnostics)
	reaped, d := req.Private.GetKey(ctx, privateReapedKey)
	resp.Diagnostics.Append(d...)
	replace := planSessionUpdate(ctx, &plan, config, state, inherited, len(reaped) > 0, &resp.Diagnostics)
	replace = append(replace, r.planVCluster(ctx, &plan, state, &resp.Diagnostics)...)
	planPersistence(&plan, &state, &resp.Diagnostics)
	plan.AccessURL = r.data.accessURL(state.ID, plan.ExpiresAt)
	if len(replace) > 0 {
		tflog.Info(ctx, "session will be replaced", map[string]any{
			"session_id": state.ID.ValueString(), "status": state.Status.ValueString(), "because": replace.String(),
		})
	}
	resp.RequiresReplace = append(resp.RequiresReplace, replace...)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	r.data.admitSession(ctx, plan, &state, &resp.Diagnostics)
	// Should Terraform replace the session, it plans the create half again with this
	// private data: the growth was counted here.
	if resp.Private != nil { // nil only in unit tests that build the response by hand
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateAdmissionKey, []byte(`"counted"`))...)
	}
}

// planSessionCreate fills what the configuration and the template ID tell already:
// the configured resources (the inherited ones are known at apply), the infrastructure.
func planSessionCreate(plan *workshopSessionModel, diags *diag.Diagnostics) {
	cfg := resourcesFromMap(plan.Resources)
	orUnknown := func(v types.String) types.String {
		if v.IsNull() {
			return types.StringUnknown()
		}
		return v
	}
	plan.EffectiveResources = resourcesModel{CPU: orUnknown(cfg.CPU), Memory: orUnknown(cfg.Memory), Storage: orUnknown(cfg.Storage),
		GPU: orUnknown(cfg.GPU), GPUResource: orUnknown(cfg.GPUResource)}.object(diags)
	if !knownString(plan.TemplateID) {
		return
	}
	infra, name, _, err := workshop.ParseTemplateID(plan.TemplateID.ValueString())
	if err != nil {
		return
	}
	plan.InfrastructureType = types.StringValue(string(infra))
	plan.TemplateName = types.StringValue(name)
	if infra == workshop.InfraDocker || infra == workshop.InfraSwarm {
		plan.Namespace = types.StringNull()
		plan.Kubeconfig = types.StringNull()
	}
}

// planSessionUpdate plans an existing session and returns the paths that require
// replacing it. inherited is nil when unknown; reaped is true for a session that
// expired and is gone.
func planSessionUpdate(ctx context.Context, plan *workshopSessionModel, config, state workshopSessionModel,
	inherited *inheritedSettings, reaped bool, diags *diag.Diagnostics) path.Paths {
	var replace path.Paths

	// Resources and duration: configured values win; unset ones take the inherited
	// value (or, without one, e.g. after an import whose template is gone, the state's).
	cfg := resourcesFromMap(config.Resources)
	prior := resourcesFrom(ctx, state.EffectiveResources, diags)
	pick := func(c types.String, inh func(workshop.Resources) string, s types.String) types.String {
		switch {
		case !c.IsNull():
			return c
		case inherited != nil && inh(inherited.Resources) != "":
			return types.StringValue(inh(inherited.Resources))
		default:
			return s
		}
	}
	planned := resourcesModel{
		CPU:     pick(cfg.CPU, func(r workshop.Resources) string { return r.CPU }, prior.CPU),
		Memory:  pick(cfg.Memory, func(r workshop.Resources) string { return r.Memory }, prior.Memory),
		Storage: pick(cfg.Storage, func(r workshop.Resources) string { return r.Storage }, prior.Storage),
	}
	planned.GPU, planned.GPUResource = effectiveGPU(
		pick(cfg.GPU, func(r workshop.Resources) string { return r.GPU }, prior.GPU),
		pick(cfg.GPUResource, func(r workshop.Resources) string { return r.GPUResource }, nullIfUnknown(prior.GPUResource)))
	plan.EffectiveResources = planned.object(diags)
	if config.Duration.IsNull() {
		if inherited != nil && inherited.Duration != "" {
			plan.Duration = types.StringValue(inherited.Duration)
		} else {
			plan.Duration = state.Duration
		}
	}

	// expires_at = created_at + duration (+ the time paused sessions stayed stopped),
	// known at plan time, unless a paused session resumes: the pause ends at apply.
	plan.ExpiresAt = types.StringUnknown()
	if created, ok := parseTime(state.CreatedAt); ok && knownString(plan.Duration) && !resumesPaused(ctx, *plan, state) {
		if d, err := workshop.ParseSessionDuration(plan.Duration.ValueString()); err == nil {
			plan.ExpiresAt = types.StringValue(formatTime(created.Add(d + pausedTime(ctx, state))))
		}
	}

	// Kubernetes: a new expiry comes with a new participant token, so a new kubeconfig.
	if state.InfrastructureType.ValueString() == string(workshop.InfraKubernetes) && !valuesEqual(plan.ExpiresAt, state.ExpiresAt) {
		plan.Kubeconfig = types.StringUnknown()
	}

	// A Docker container's writable layer cannot be resized.
	if state.InfrastructureType.ValueString() == string(workshop.InfraDocker) && !sameQuantityValue(planned.Storage, prior.Storage) {
		replace = append(replace, path.Root("effective_resources").AtName("storage"))
	}

	// A GPU is a device request (Docker) or a pod's limits (Kubernetes): not changed live.
	if !valuesEqual(planned.GPU, prior.GPU) || !valuesEqual(planned.GPUResource, prior.GPUResource) {
		replace = append(replace, path.Root("effective_resources").AtName("gpu"))
	}

	// Degraded: replace. Expired and reaped: kept as is, unless the configuration asks
	// for something only a live session can do.
	resourcesChanged := !sameQuantityValue(planned.CPU, prior.CPU) || !sameQuantityValue(planned.Memory, prior.Memory) ||
		!sameQuantityValue(planned.Storage, prior.Storage)
	durationChanged := !valuesEqual(plan.Duration, state.Duration)
	if state.Status.ValueString() == workshop.StatusDegraded || (reaped && (resourcesChanged || durationChanged)) {
		plan.Status = types.StringUnknown()
		replace = append(replace, path.Root("status"))
	}
	return replace
}

// effectiveSession sets the plan's effective resources and unset duration to the
// configured values over what the session inherits (the template's over the backend
// defaults) and returns the resources and the inherited settings. Configured values
// keep their spelling.
func effectiveSession(plan *workshopSessionModel, tmpl *workshop.Template, diags *diag.Diagnostics) (resourcesModel, inheritedSettings) {
	inherited := inheritedFrom(tmpl)
	planned := resourcesFromMap(plan.Resources)
	orInherited := func(v types.String, inh string) types.String {
		if knownString(v) {
			return v
		}
		return types.StringValue(inh)
	}
	res := resourcesModel{
		CPU:     orInherited(planned.CPU, inherited.Resources.CPU),
		Memory:  orInherited(planned.Memory, inherited.Resources.Memory),
		Storage: orInherited(planned.Storage, inherited.Resources.Storage),
	}
	res.GPU, res.GPUResource = effectiveGPU(
		orInheritedOpt(planned.GPU, inherited.Resources.GPU), orInheritedOpt(planned.GPUResource, inherited.Resources.GPUResource))
	plan.EffectiveResources = res.object(diags)
	plan.Duration = orInherited(plan.Duration, inherited.Duration)
	return res, inherited
}

// sameQuantityValue compares two planned quantities; unknown compares unequal.
func sameQuantityValue(a, b types.String) bool {
	if a.IsUnknown() || b.IsUnknown() {
		return false
	}
	if a.IsNull() || b.IsNull() {
		return a.IsNull() == b.IsNull()
	}
	return workshop.SameQuantity(a.ValueString(), b.ValueString())
}

func (r *workshopSessionResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan workshopSessionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, sessionCreateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	templateIDValue := plan.TemplateID.ValueString()
	infra, _, _, err := workshop.ParseTemplateID(templateIDValue)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("template_id"), "Invalid template ID", err.Error())
		return
	}
	b, bd := r.data.Backend(ctx, infra)
	resp.Diagnostics.Append(bd...)
	if resp.Diagnostics.HasError() {
		return
	}
	tmpl, err := b.GetTemplate(ctx, templateIDValue)
	if errors.Is(err, workshop.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("template_id"), "Template not found",
			fmt.Sprintf("template_id: no template %s is stored on the %s backend. Reference a nalabo_workshop_template's id "+
				"(nalabo_workshop_template.<name>.id) so Terraform applies it first.", templateIDValue, infra))
		return
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "read the template "+templateIDValue, err)
		return
	}

	if !plan.Persistence.IsNull() && tmpl.Isolation == workshop.IsolationVCluster {
		resp.Diagnostics.AddAttributeError(path.Root("persistence"), "Persistence is not available on vcluster sessions",
			fmt.Sprintf("persistence: template %s isolates sessions in a vCluster, whose own data store is the provider's "+
				"kubernetes.vcluster.persistence setting; a persistent home for the participant needs a namespace or docker template. "+
				"Nothing was created.", tmpl.ID))
		return
	}
	res, inherited := effectiveSession(&plan, tmpl, &resp.Diagnostics)
	duration, err := workshop.ParseSessionDuration(plan.Duration.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("duration"), "Invalid duration", "duration: "+err.Error())
		return
	}
	created := r.clock().UTC().Truncate(time.Second)
	spec := &workshop.SessionSpec{
		ID:          workshop.NewSessionID(),
		Template:    tmpl,
		Participant: plan.Participant.ValueString(),
		Resources:   res.workshop(),
		CreatedAt:   created,
		Duration:    duration,
		ExpiresAt:   created.Add(duration),
		Persistence: persistenceFrom(ctx, plan.Persistence, &resp.Diagnostics),
	}
	logFields := map[string]any{
		"session_id": spec.ID, "template_id": tmpl.ID, "participant": spec.Participant,
		"cpu": spec.Resources.CPU, "memory": spec.Resources.Memory, "storage": spec.Resources.Storage,
		"expires_at": formatTime(spec.ExpiresAt),
	}
	r.data.sessionCreating()
	adopted, err := adoptOrClean(ctx, b, spec, duration)
	if err != nil {
		addBackendError(&resp.Diagnostics, fmt.Sprintf("create the session of %s", spec.Participant), err)
		return
	}
	var s *workshop.Session
	if adopted != nil {
		// What an interrupted apply created for this participant (see adoptionRule).
		s, spec.ID, spec.ExpiresAt = adopted, adopted.ID, adopted.ExpiresAt
		created = adopted.ExpiresAt.Add(-duration).UTC()
		logFields["session_id"], logFields["expires_at"] = spec.ID, formatTime(spec.ExpiresAt)
		tflog.Info(ctx, "adopted the workshop session an interrupted apply created", logFields)
	} else if s = claimPooled(ctx, b, spec, logFields); s != nil {
		spec.ID = s.ID // the entry's: its namespace and release names derive from it
	} else {
		tflog.Info(ctx, "creating workshop session", logFields)
		if s, err = b.CreateSession(ctx, spec); err != nil {
			addBackendError(&resp.Diagnostics, fmt.Sprintf("create the session of %s", spec.Participant), err)
			return
		}
		tflog.Info(ctx, "created workshop session", logFields)
	}

	if s.ID == "" {
		s.ID = spec.ID
	}
	// Created stopped when the configuration says so (the create is what built the home).
	s = applyState(ctx, b, s, plan.State.ValueString(), &resp.Diagnostics)
	plan.ID = types.StringValue(spec.ID)
	plan.CreatedAt = types.StringValue(formatTime(created))
	plan.ExpiresAt = types.StringValue(formatTime(spec.ExpiresAt))
	if s.ID == "" {
		s.ID = spec.ID
	}
	plan.setLive(ctx, s, fillAll, &resp.Diagnostics)
	plan.AccessURL = r.data.accessURL(plan.ID, plan.ExpiresAt)
	resp.Diagnostics.Append(setInherited(ctx, resp.Private, inherited)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *workshopSessionResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state workshopSessionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Read(ctx, sessionReadTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	b, ok := r.backendOf(ctx, state, &resp.Diagnostics)
	if !ok {
		return
	}
	id := state.ID.ValueString()
	s, err := b.GetSession(ctx, id)
	if errors.Is(err, workshop.ErrNotFound) {
		if exp, ok := parseTime(state.ExpiresAt); ok && !r.clock().Before(exp) {
			// Reaped after it expired: keep it, so that a plan shows an expired session
			// and not a surprise re-creation.
			tflog.Info(ctx, "session expired and is gone; keeping it in state as expired", map[string]any{"session_id": id})
			state.Status = types.StringValue(workshop.StatusExpired)
			resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateReapedKey, []byte("true"))...)
			resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
			return
		}
		tflog.Warn(ctx, "session not found; removing it from state so that the next apply re-creates it", map[string]any{"session_id": id})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		addBackendError(&resp.Diagnostics, "read the session "+id, err)
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, privateReapedKey, nil)...)
	claimSession(ctx, b, s)

	refreshSession(ctx, &state, s, &resp.Diagnostics)
	refreshState(&state, s)
	if u := r.data.accessURL(state.ID, state.ExpiresAt); !u.IsUnknown() {
		state.AccessURL = u
	}

	// Sessions imported (or created by an older version) learn what they inherit.
	if getInherited(ctx, req.Private, &resp.Diagnostics) == nil && knownString(state.TemplateID) {
		if t, err := b.GetTemplate(ctx, state.TemplateID.ValueString()); err == nil {
			resp.Diagnostics.Append(setInherited(ctx, resp.Private, inheritedFrom(t))...)
		} else {
			tflog.Debug(ctx, "template of an imported session not found; unset resources keep their live values",
				map[string]any{"session_id": id, "template_id": state.TemplateID.ValueString()})
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *workshopSessionResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state workshopSessionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := plan.Timeouts.Update(ctx, sessionUpdateTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if configurationOnlyChange(ctx, req.State, plan, state, &resp.Diagnostics) {
		// Only resources' keys (after a state upgrade or import) or timeouts changed:
		// the backend enforces the same limits and lifetime, nothing to do there.
		tflog.Debug(ctx, "session update changes configuration-only attributes; the backend is not called",
			map[string]any{"session_id": state.ID.ValueString()})
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		return
	}
	b, ok := r.backendOf(ctx, state, &resp.Diagnostics)
	if !ok {
		return
	}
	id := state.ID.ValueString()
	tmpl, err := b.GetTemplate(ctx, state.TemplateID.ValueString())
	if err != nil {
		// The session keeps running without its stored template; labels need the name.
		tmpl = &workshop.Template{
			ID: state.TemplateID.ValueString(), Name: state.TemplateName.ValueString(),
			Infrastructure: workshop.InfrastructureType(state.InfrastructureType.ValueString()),
		}
	}
	res := resourcesFrom(ctx, plan.EffectiveResources, &resp.Diagnostics)
	duration, err := workshop.ParseSessionDuration(plan.Duration.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("duration"), "Invalid duration", "duration: "+err.Error())
		return
	}
	created, ok := parseTime(state.CreatedAt)
	if !ok {
		resp.Diagnostics.AddAttributeError(path.Root("created_at"), "Invalid state",
			fmt.Sprintf("created_at %q is not an RFC 3339 timestamp.", state.CreatedAt.ValueString()))
		return
	}
	spec := &workshop.SessionSpec{
		ID:          id,
		Template:    tmpl,
		Participant: state.Participant.ValueString(),
		Resources:   res.workshop(),
		CreatedAt:   created,
		Duration:    duration,
		ExpiresAt:   created.Add(duration + pausedTime(ctx, state)),
		Persistence: persistenceFrom(ctx, state.Persistence, &resp.Diagnostics),
	}
	tflog.Info(ctx, "updating workshop session", map[string]any{
		"session_id": id, "cpu": spec.Resources.CPU, "memory": spec.Resources.Memory, "expires_at": formatTime(spec.ExpiresAt),
	})
	s, err := b.UpdateSession(ctx, id, spec)
	if err != nil {
		addBackendError(&resp.Diagnostics, "update the session "+id, err)
		return
	}
	// After the update: an extended expiry is what lets an expired session resume.
	if s = applyState(ctx, b, s, plan.State.ValueString(), &resp.Diagnostics); resp.Diagnostics.HasError() {
		return
	}
	plan.ExpiresAt = types.StringValue(formatTime(spec.ExpiresAt))
	if s != nil && !s.ExpiresAt.IsZero() {
		plan.ExpiresAt = types.StringValue(formatTime(s.ExpiresAt)) // moved by a resumed pause
	}
	plan.setLive(ctx, s, fillUnknown, &resp.Diagnostics)
	plan.AccessURL = r.data.accessURL(plan.ID, plan.ExpiresAt)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// configurationOnlyChange reports whether plan differs from state only in attributes
// the backend does not see: the resources map (the values in force are in
// effective_resources), timeouts and access_url (a new gateway URL or key).
func configurationOnlyChange(ctx context.Context, st tfsdk.State, plan, state workshopSessionModel, diags *diag.Diagnostics) bool {
	p := plan
	p.Resources, p.Timeouts, p.AccessURL = state.Resources, state.Timeouts, state.AccessURL
	probe := tfsdk.State{Schema: st.Schema, Raw: st.Raw.Copy()}
	if d := probe.Set(ctx, &p); d.HasError() {
		diags.Append(d...)
		return false
	}
	return probe.Raw.Equal(st.Raw)
}

func (r *workshopSessionResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state workshopSessionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, d := state.Timeouts.Delete(ctx, sessionDeleteTimeout)
	resp.Diagnostics.Append(d...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	b, ok := r.backendOf(ctx, state, &resp.Diagnostics)
	if !ok {
		return
	}
	id := state.ID.ValueString()
	tflog.Info(ctx, "deleting workshop session", map[string]any{"session_id": id, "participant": state.Participant.ValueString()})
	r.data.usageBeforeChange(ctx, workshop.InfrastructureType(state.InfrastructureType.ValueString()))
	if err := b.DeleteSession(ctx, id); err != nil {
		addBackendError(&resp.Diagnostics, "delete the session "+id, err)
		return
	}
	r.data.sessionDeleted(ctx, state)
}

// refreshSession writes a live session into the state (see mergeLiveResources).
func refreshSession(ctx context.Context, state *workshopSessionModel, s *workshop.Session, diags *diag.Diagnostics) {
	merged := mergeLiveResources(resourcesFrom(ctx, state.EffectiveResources, diags), s.Resources)
	state.EffectiveResources = merged.object(diags)
	if !s.ExpiresAt.IsZero() {
		state.ExpiresAt = types.StringValue(formatTime(s.ExpiresAt))
	}
	if state.CreatedAt.IsNull() && !s.CreatedAt.IsZero() {
		state.CreatedAt = types.StringValue(formatTime(s.CreatedAt))
	}
	if state.TemplateID.IsNull() && s.TemplateID != "" {
		state.TemplateID = types.StringValue(s.TemplateID)
	}
	if state.Participant.IsNull() && s.Participant != "" {
		state.Participant = types.StringValue(s.Participant)
	}
	state.setLive(ctx, s, fillAll, diags)
}

// backendOf returns the backend a session in state lives on.
func (r *workshopSessionResource) backendOf(ctx context.Context, state workshopSessionModel, diags *diag.Diagnostics) (backendImpl, bool) {
	infra := workshop.InfrastructureType(state.InfrastructureType.ValueString())
	if infra == "" {
		if i, _, _, err := workshop.ParseTemplateID(state.TemplateID.ValueString()); err == nil {
			infra = i
		}
	}
	b, d := r.data.Backend(ctx, infra)
	diags.Append(d...)
	return b, !diags.HasError()
}

// ImportState imports a session by ID (nalabo_workshop_session.<name>.id), on
// whichever configured backend holds it.
func (r *workshopSessionResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := workshop.ValidateSessionID(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import ID", err.Error())
		return
	}
	_, s, diags := r.data.FindSession(ctx, req.ID)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	if s == nil {
		resp.Diagnostics.AddError("Session not found", fmt.Sprintf("No configured backend has a session %q.", req.ID))
		return
	}
	m := sessionModelFromImport(ctx, s, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// sessionModelFromImport builds a state from a live session. The duration is the
// session's lifetime rounded to the minute and created_at is expires_at minus that
// duration, so that expires_at = created_at + duration holds as it does after create.
func sessionModelFromImport(ctx context.Context, s *workshop.Session, diags *diag.Diagnostics) workshopSessionModel {
	m := workshopSessionModel{
		ID:          types.StringValue(s.ID),
		TemplateID:  types.StringValue(s.TemplateID),
		Participant: types.StringValue(s.Participant),
		Timeouts:    timeouts.Value{Object: types.ObjectNull(timeoutsAttrTypes(ctx))},
		CreatedAt:   types.StringNull(),
		ExpiresAt:   types.StringNull(),
		Duration:    types.StringNull(),
	}
	// resources is configuration only: an imported session has none (its next plan
	// shows the configured ones as an in-place update).
	m.Resources = types.MapNull(types.StringType)
	m.EffectiveResources = resourcesModelOf(s.Resources).object(diags)
	if !s.ExpiresAt.IsZero() && !s.CreatedAt.IsZero() {
		d := s.ExpiresAt.Sub(s.CreatedAt).Round(time.Minute)
		if d < workshop.MinDuration {
			d = workshop.MinDuration
		}
		m.Duration = types.StringValue(shortDuration(d))
		m.CreatedAt = types.StringValue(formatTime(s.ExpiresAt.Add(-d)))
		m.ExpiresAt = types.StringValue(formatTime(s.ExpiresAt))
	}
	m.Persistence = persistenceValue(s.Persistence, diags)
	refreshState(&m, s)
	m.setLive(ctx, s, fillAll, diags)
	return m
}

// claimPooled hands spec a free entry of its template's warm pool, or returns nil (no
// pool, no free entry, or a claim that failed: the session is then created cold, marked
// as a pool miss).
func claimPooled(ctx context.Context, b backendImpl, spec *workshop.SessionSpec, logFields map[string]any) *workshop.Session {
	p, ok := b.(workshop.WarmPooler)
	if !ok || spec.Template.WarmPool <= 0 {
		return nil
	}
	s, err := p.ClaimPooled(ctx, spec)
	if err != nil || s == nil {
		spec.Pool = workshop.PoolCold
		if err != nil {
			tflog.Warn(ctx, "claiming a warm pool entry failed; creating the session cold", withField(logFields, "error", err.Error()))
		} else {
			tflog.Info(ctx, "the warm pool has no free entry; creating the session cold", logFields)
		}
		return nil
	}
	tflog.Info(ctx, "claimed a warm pool entry", withField(logFields, "session_id", s.ID))
	return s
}

// withField returns a copy of fields with k set to v.
func withField(fields map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(fields)+1)
	for key, val := range fields {
		out[key] = val
	}
	out[k] = v
	return out
}
