package provider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/terraform-plugin-framework-validators/float64validator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Class admission (issue 16): a plan that would make the sessions reserve more than a
// backend can give × overcommit, or create more than max_sessions, fails before
// anything is created, with the figures. Terraform plans every session in one
// provider process per walk, so the provider tallies this walk's sessions in
// providerData.admission; the live reservations come from the backend's first ping of
// the process (every state's sessions, taken before this process changed anything).
// The apply walk plans each session again with the values known by then, and tallies
// again: a class whose sizes were unknown at plan time is checked there.
//
// A stopped persistent session reserves nothing (the backends' figures leave it out),
// so stopping a cohort makes room for another in the next apply; its resume (state
// "stopped" -> "running") is admitted like a create, refused on `state`. It still
// counts for max_sessions, which bounds how many sessions exist (their data,
// namespaces, networks), whatever they run.

var overcommitAttrTypes = map[string]attr.Type{"cpu": types.Float64Type, "memory": types.Float64Type}

// overcommitAttribute is the overcommit argument of the docker and kubernetes blocks.
func overcommitAttribute(infra workshop.InfrastructureType, block, capacity string) schema.SingleNestedAttribute {
	a := schema.SingleNestedAttribute{
		MarkdownDescription: "How far the sessions' reservations may exceed " + capacity + ": before creating sessions, " +
			"the plan adds up what the class reserves (each session's `cpu` and `memory`) and what live sessions reserve " +
			"already (every state's), and fails with the figures when the total exceeds capacity × ratio. Only growth is " +
			"checked: a class admitted once can always be re-planned, changed and destroyed. A persistent session with " +
			"`state = \"stopped\"` reserves nothing while stopped (so stopping one cohort makes room for another), and its " +
			"resume is checked like a new session (refused on `state` when the host is full). Default `{ cpu = " +
			ratioString(workshop.DefaultOvercommit.CPU) + ", memory = " + ratioString(workshop.DefaultOvercommit.Memory) +
			" }`: CPU is compressible (a busy session is throttled), memory is not (an overcommitted host kills processes).",
		Optional: true,
		Attributes: map[string]schema.Attribute{
			"cpu": schema.Float64Attribute{
				MarkdownDescription: "Ratio of reserved CPU to the " + block + " capacity's CPUs, at least `1`. When unset, `" +
					envOvercommit(infra, "cpu") + "`; default `" + ratioString(workshop.DefaultOvercommit.CPU) + "`.",
				Optional:   true,
				Validators: []validator.Float64{float64validator.AtLeast(1)},
			},
			"memory": schema.Float64Attribute{
				MarkdownDescription: "Ratio of reserved memory to the " + block + " capacity's memory, at least `1`. When unset, `" +
					envOvercommit(infra, "memory") + "`; default `" + ratioString(workshop.DefaultOvercommit.Memory) + "`.",
				Optional:   true,
				Validators: []validator.Float64{float64validator.AtLeast(1)},
			},
		},
	}
	if infra == workshop.InfraKubernetes {
		a.Attributes["gpu"] = schema.Float64Attribute{
			MarkdownDescription: "Ratio of the GPUs new sessions reserve (`resources.gpu`, with what live sessions reserve) to " +
				"the GPUs of that resource name the nodes advertise now, at least `1`. A GPU is not shared: raise it only " +
				"where an autoscaler adds GPU nodes on demand. No node advertising that resource at all is not checked (a " +
				"warning says so: an autoscaler may add the nodes, or the name is wrong). When unset, `" +
				envOvercommit(infra, "gpu") + "`; default `1`.",
			Optional:   true,
			Validators: []validator.Float64{float64validator.AtLeast(1)},
		}
	}
	return a
}

func ratioString(f float64) string { return fmt.Sprint(f) }

// overcommitFrom reads a block's overcommit: each ratio from the object, else its
// variable, else the default. An unknown value (known only after apply) counts as
// unset for this plan.
func overcommitFrom(infra workshop.InfrastructureType, o types.Object, getenv func(string) string, diags *diag.Diagnostics) workshop.Overcommit {
	out := workshop.DefaultOvercommit
	read := func(name string, dst *float64) {
		if !o.IsNull() && !o.IsUnknown() {
			if v, ok := o.Attributes()[name].(types.Float64); ok && !v.IsNull() && !v.IsUnknown() {
				*dst = v.ValueFloat64()
				return
			}
		}
		env := envOvercommit(infra, name)
		raw := getenv(env)
		if raw == "" {
			return
		}
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || f < 1 || math.IsInf(f, 0) {
			diags.AddAttributeError(path.Root(string(infra)).AtName("overcommit").AtName(name), "Invalid "+env,
				fmt.Sprintf("%s (the fallback of %s.overcommit.%s) must be a number of at least 1, got %q.", env, infra, name, raw))
			return
		}
		*dst = f
	}
	read("cpu", &out.CPU)
	read("memory", &out.Memory)
	if infra == workshop.InfraKubernetes {
		read("gpu", &out.GPU)
	}
	return out
}

// plannedTemplate is a template of this walk whose ID is not known yet: a new session
// referencing it has an unknown template_id, but reserves what it gives.
type plannedTemplate struct {
	infra     workshop.InfrastructureType
	resources workshop.Resources
}

// admissionState is the per-process admission: the tally and what it needs.
type admissionState struct {
	tally *workshop.Admission

	// created: this process created a session (an apply refusing a session says
	// that the ones before it stay).
	created atomic.Bool

	mu        sync.Mutex
	templates map[string]plannedTemplate // by infrastructure and name
	stored    map[string]workshop.Resources
}

func newAdmissionState(overcommit map[workshop.InfrastructureType]workshop.Overcommit, maxSessions int64) *admissionState {
	return &admissionState{
		tally:     workshop.NewAdmission(overcommit, maxSessions),
		templates: map[string]plannedTemplate{},
		stored:    map[string]workshop.Resources{},
	}
}

// recordPlannedTemplate remembers a template planned with an unknown ID.
func (d *providerData) recordPlannedTemplate(infra workshop.InfrastructureType, name string, res workshop.Resources) {
	if d == nil || d.admission == nil {
		return
	}
	a := d.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	a.templates[string(infra)+"/"+name] = plannedTemplate{infra: infra, resources: res}
}

// unknownTemplate is what a session with an unknown template_id inherits: with one
// infrastructure among this walk's new templates, the smallest of their resources (so
// that no class is refused for a template it does not use).
func (a *admissionState) unknownTemplate() (workshop.InfrastructureType, workshop.ParsedResources, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var infra workshop.InfrastructureType
	var out workshop.ParsedResources
	first := true
	for _, t := range a.templates {
		p, err := t.resources.Over(workshop.DefaultResources(t.infra)).Parse()
		if err != nil {
			return "", out, false
		}
		if first {
			infra, out, first = t.infra, p, false
			continue
		}
		if t.infra != infra {
			return "", out, false
		}
		out.MilliCPU, out.MemoryBytes = min(out.MilliCPU, p.MilliCPU), min(out.MemoryBytes, p.MemoryBytes)
	}
	return infra, out, !first
}

// storedTemplate returns what sessions of a stored template inherit, read once.
func (a *admissionState) storedTemplate(ctx context.Context, b backendImpl, id string) (workshop.Resources, error) {
	a.mu.Lock()
	res, ok := a.stored[id]
	a.mu.Unlock()
	if ok {
		return res, nil
	}
	t, err := b.GetTemplate(ctx, id)
	if err != nil {
		return workshop.Resources{}, err
	}
	res = inheritedFrom(t).Resources
	a.mu.Lock()
	a.stored[id] = res
	a.mu.Unlock()
	return res, nil
}

// admitSession checks a planned session: a new one (state nil) or a changed one.
func (d *providerData) admitSession(ctx context.Context, plan workshopSessionModel, state *workshopSessionModel, diags *diag.Diagnostics) {
	if d == nil || d.admission == nil {
		return
	}
	c, ok := d.sessionChange(ctx, plan, state)
	if !ok {
		return
	}
	if !c.Create && !c.Grows() {
		// Always admitted (only growth is checked): a no-change plan of a class reads
		// no reservations.
		return
	}
	if _, bd := d.Backend(ctx, c.Infra); bd.HasError() {
		return // Create says so, with the reason
	}
	live := d.snapshot(ctx, c.Infra)
	liveSessions := 0
	if c.Create && d.admission.tally.MaxSessions > 0 {
		liveSessions = d.liveSessions(ctx, diags)
	}
	if c.Create && c.GPUs > 0 && live != nil && live.AllocatableGPUs != nil && live.AllocatableGPUs[c.GPUResource] == 0 {
		d.admission.warnNoGPUs(c, diags)
	}
	err := d.admission.tally.Admit(c, live, liveSessions)
	fields := map[string]any{"participant": c.Participant, "infrastructure": string(c.Infra), "create": c.Create, "resume": c.Resume,
		"millicpu": c.MilliCPU, "memory": c.Memory, "cpu_known": c.CPUKnown, "memory_known": c.MemoryKnown}
	var ae *workshop.AdmissionError
	if !errors.As(err, &ae) {
		tflog.Debug(ctx, "session admitted", fields)
		return
	}
	fields["refused_by"] = ae.Attribute
	tflog.Warn(ctx, "session refused: the class does not fit", fields)
	where := "the Docker host"
	if c.Infra == workshop.InfraKubernetes {
		where = "the Kubernetes cluster"
	}
	// A plan stops before any create; an apply (which plans each session again, with
	// the values known by then) may have created some already.
	done := "No session was created."
	if d.admission.created.Load() {
		done = "This session was not created (the sessions this apply created before stay)."
	}
	what := "Session"
	if c.Resume {
		what = "Resuming the stopped session"
		done = "The session stays stopped. Stopped sessions reserve nothing: stop or remove other sessions first."
		if d.admission.created.Load() {
			done = "The session stays stopped (the sessions this apply created before stay). Stopped sessions reserve " +
				"nothing: stop or remove other sessions first."
		}
	}
	hint := fmt.Sprintf("%s Give the sessions less cpu or memory, create fewer sessions (or split the class "+
		"between hosts), or raise %s.overcommit if %s can take more (the ratios now: cpu %s, memory %s).",
		done, c.Infra, where, ratioString(d.admission.tally.OvercommitOf(c.Infra).CPU), ratioString(d.admission.tally.OvercommitOf(c.Infra).Memory))
	switch {
	case ae.Attribute == "max_sessions":
		hint = done + " Create fewer sessions, remove finished ones, or raise the provider's max_sessions."
	case strings.HasSuffix(ae.Attribute, ".gpu"):
		hint = fmt.Sprintf("%s Give fewer sessions a GPU (resources.gpu = 0 turns off the template's), add GPU nodes, or "+
			"raise kubernetes.overcommit.gpu if an autoscaler adds GPU nodes on demand (now %s).", done, ratioString(max(d.admission.tally.OvercommitOf(c.Infra).GPU, 1)))
	case c.Resume:
		hint = fmt.Sprintf("%s Or give the session less cpu or memory, or raise %s.overcommit if %s can take more (the ratios now: cpu %s, memory %s).",
			done, c.Infra, where, ratioString(d.admission.tally.OvercommitOf(c.Infra).CPU), ratioString(d.admission.tally.OvercommitOf(c.Infra).Memory))
	}
	diags.AddAttributeError(path.Root(ae.SessionAttribute), "The class does not fit "+where,
		fmt.Sprintf("%s of %q refused (%s): %s\n\n%s", what, c.Participant, ae.Attribute, ae.Msg, hint))
}

// sessionChange is what a planned session adds: ok is false when its backend is not
// known yet.
func (d *providerData) sessionChange(ctx context.Context, plan workshopSessionModel, state *workshopSessionModel) (workshop.Change, bool) {
	c := workshop.Change{Participant: plan.Participant.ValueString(), Create: state == nil}
	planned := resourcesFrom(ctx, plan.EffectiveResources, &diag.Diagnostics{})
	var inherited workshop.ParsedResources
	inheritedKnown := false
	switch {
	case state != nil:
		c.Infra = workshop.InfrastructureType(state.InfrastructureType.ValueString())
	case knownString(plan.TemplateID):
		infra, _, _, err := workshop.ParseTemplateID(plan.TemplateID.ValueString())
		if err != nil {
			return c, false
		}
		c.Infra = infra
		if !knownString(planned.CPU) || !knownString(planned.Memory) || planned.GPU.IsUnknown() {
			b, bd := d.Backend(ctx, infra)
			if bd.HasError() {
				return c, false
			}
			res, err := d.admission.storedTemplate(ctx, b, plan.TemplateID.ValueString())
			if err != nil {
				return c, false // the template is created in this apply, or gone: Create says so
			}
			inherited, err = res.Parse()
			inheritedKnown = err == nil
		}
	case plan.TemplateID.IsUnknown():
		infra, res, ok := d.admission.unknownTemplate()
		if !ok {
			return c, false
		}
		c.Infra, inherited, inheritedKnown = infra, res, true
	default:
		return c, false
	}

	cpu, cpuKnown := plannedMilliCPU(planned.CPU, inherited.MilliCPU, inheritedKnown)
	mem, memKnown := plannedMemory(planned.Memory, inherited.MemoryBytes, inheritedKnown)
	switch {
	case state != nil && stoppedIn(*state) && plan.State.ValueString() == workshop.StateRunning:
		// A resume: stopped, the session reserved nothing; its whole reservation counts.
		c.Resume = true
	case state != nil && (stoppedIn(*state) || plan.State.ValueString() == workshop.StateStopped):
		// Staying stopped, or being stopped: it reserves nothing (a resize is checked at
		// its resume).
		cpu, mem = 0, 0
	case state != nil:
		prior := resourcesFrom(ctx, state.EffectiveResources, &diag.Diagnostics{})
		pcpu, pcpuKnown := plannedMilliCPU(prior.CPU, 0, false)
		pmem, pmemKnown := plannedMemory(prior.Memory, 0, false)
		cpu, cpuKnown = cpu-pcpu, cpuKnown && pcpuKnown
		mem, memKnown = mem-pmem, memKnown && pmemKnown
	}
	c.MilliCPU, c.CPUKnown, c.Memory, c.MemoryKnown = cpu, cpuKnown, mem, memKnown
	if c.Create || c.Resume {
		c.GPUs, c.GPUResource = plannedGPUs(planned, inherited, inheritedKnown)
	}
	return c, true
}

// stoppedIn says whether a session's prior state is a stopped persistent session
// (refresh reads state from the live session): it reserves nothing.
func stoppedIn(state workshopSessionModel) bool {
	return state.State.ValueString() == workshop.StateStopped && !state.Persistence.IsNull()
}

// plannedGPUs is a new session's GPUs (0 when none or not known yet) and their name.
func plannedGPUs(planned resourcesModel, inherited workshop.ParsedResources, inheritedKnown bool) (int64, string) {
	n, name := int64(0), workshop.DefaultGPUResource
	switch {
	case knownString(planned.GPU):
		v, err := workshop.ParseGPUCount(planned.GPU.ValueString())
		if err != nil {
			return 0, ""
		}
		n = v
	case planned.GPU.IsUnknown() && inheritedKnown:
		n = inherited.GPUs
	}
	switch {
	case knownString(planned.GPUResource):
		name = planned.GPUResource.ValueString()
	case inheritedKnown && inherited.GPUResource != "":
		name = inherited.GPUResource
	}
	return n, name
}

func plannedMilliCPU(v types.String, inherited int64, inheritedKnown bool) (int64, bool) {
	if knownString(v) {
		m, err := workshop.ParseCPU(v.ValueString())
		return m, err == nil
	}
	return inherited, inheritedKnown
}

func plannedMemory(v types.String, inherited int64, inheritedKnown bool) (int64, bool) {
	if knownString(v) {
		m, err := workshop.ParseMemory(v.ValueString())
		return m, err == nil
	}
	return inherited, inheritedKnown
}

// snapshot is the live reservations of a backend as this process first read them
// (nil when not reached): taken before this process changed anything it counts.
func (d *providerData) snapshot(ctx context.Context, infra workshop.InfrastructureType) *workshop.Info {
	switch infra {
	case workshop.InfraDocker:
		return d.docker.info(ctx)
	case workshop.InfraKubernetes:
		if d.kubernetes != nil {
			return d.kubernetes.info(ctx)
		}
	}
	return nil
}

// usageBeforeChange takes the backend's snapshot of live reservations, if not taken
// yet, before this process deletes a session of it: the admission subtracts what this
// process deleted (sessionDeleted) from a snapshot that must still count it. Creates
// and growing updates take it at their plan (admitSession), before their apply.
func (d *providerData) usageBeforeChange(ctx context.Context, infra workshop.InfrastructureType) {
	if d == nil || d.admission == nil {
		return
	}
	if _, bd := d.Backend(ctx, infra); !bd.HasError() {
		d.snapshot(ctx, infra)
	}
}

// liveSessions counts the sessions of every configured backend (max_sessions is the
// provider's): a backend that cannot be reached counts none, with a warning.
func (d *providerData) liveSessions(ctx context.Context, diags *diag.Diagnostics) int {
	n := 0
	for _, infra := range d.configuredBackends() {
		if _, bd := d.Backend(ctx, infra); bd.HasError() {
			d.admission.warnOnce(infra, diags)
			continue
		}
		if i := d.snapshot(ctx, infra); i != nil {
			n += i.Sessions
		}
	}
	return n
}

// warnNoGPUs warns once per GPU resource name that no node advertises it.
func (a *admissionState) warnNoGPUs(c workshop.Change, diags *diag.Diagnostics) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := "no-gpus/" + c.GPUResource
	if _, done := a.stored[key]; done {
		return
	}
	a.stored[key] = workshop.Resources{}
	diags.AddAttributeWarning(path.Root("resources"), "No node advertises "+c.GPUResource,
		fmt.Sprintf("Sessions of this plan ask for %s (the session of %q first), but no schedulable node of the Kubernetes "+
			"cluster advertises any: the class admission cannot check them. Unless an autoscaler adds GPU nodes on demand, "+
			"their creates wait until their timeout and fail with the scheduler's reason. Check gpu_resource (the name the "+
			"nodes' device plugin advertises, such as nvidia.com/gpu or amd.com/gpu).", c.GPUResource, c.Participant))
}

func (a *admissionState) warnOnce(infra workshop.InfrastructureType, diags *diag.Diagnostics) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := "warned/" + string(infra)
	if _, done := a.stored[key]; done {
		return
	}
	a.stored[key] = workshop.Resources{}
	diags.AddAttributeWarning(path.Root("participant"), "max_sessions counts no sessions on "+string(infra),
		fmt.Sprintf("The %s backend is configured but could not be reached, so its sessions are not counted against max_sessions.", infra))
}

// Environment fallbacks of the admission settings (attribute > variable > default):
// a CI machine or a shared test engine relaxes them without editing configurations.
const (
	envMaxSessions = "NALABO_MAX_SESSIONS"
)

// envOvercommit names the variable of one ratio: NALABO_DOCKER_OVERCOMMIT_CPU.
func envOvercommit(infra workshop.InfrastructureType, name string) string {
	return "NALABO_" + strings.ToUpper(string(infra)) + "_OVERCOMMIT_" + strings.ToUpper(name)
}

// admissionFrom builds the admission of a provider configuration. Unknown ratios or
// max_sessions (known only after apply) leave the variables' values or the defaults
// for this plan; the apply walk has them.
func admissionFrom(ctx context.Context, m providerModel, getenv func(string) string, diags *diag.Diagnostics) *admissionState {
	oc := map[workshop.InfrastructureType]workshop.Overcommit{}
	blocks := map[workshop.InfrastructureType]types.Object{workshop.InfraDocker: types.ObjectNull(overcommitAttrTypes), workshop.InfraKubernetes: types.ObjectNull(overcommitAttrTypes)}
	if m.Docker != nil {
		blocks[workshop.InfraDocker] = m.Docker.Overcommit
	}
	if m.Kubernetes != nil {
		blocks[workshop.InfraKubernetes] = m.Kubernetes.Overcommit
	}
	for infra, o := range blocks {
		oc[infra] = overcommitFrom(infra, o, getenv, diags)
	}
	maxSessions := int64(0)
	switch {
	case !m.MaxSessions.IsNull() && !m.MaxSessions.IsUnknown():
		maxSessions = m.MaxSessions.ValueInt64()
	case getenv(envMaxSessions) != "":
		n, err := strconv.ParseInt(getenv(envMaxSessions), 10, 64)
		if err != nil || n < 1 {
			diags.AddAttributeError(path.Root("max_sessions"), "Invalid "+envMaxSessions,
				fmt.Sprintf("%s (the fallback of max_sessions) must be a whole number of at least 1, got %q.", envMaxSessions, getenv(envMaxSessions)))
		}
		maxSessions = n
	}
	tflog.Debug(ctx, "class admission", map[string]any{
		"docker_overcommit_cpu": oc[workshop.InfraDocker].CPU, "docker_overcommit_memory": oc[workshop.InfraDocker].Memory,
		"kubernetes_overcommit_cpu": oc[workshop.InfraKubernetes].CPU, "kubernetes_overcommit_memory": oc[workshop.InfraKubernetes].Memory,
		"max_sessions": maxSessions,
	})
	return newAdmissionState(oc, maxSessions)
}

// overcommit returns the configured ratios of a backend.
func (d *providerData) overcommit(infra workshop.InfrastructureType) workshop.Overcommit {
	if d == nil || d.admission == nil {
		return workshop.DefaultOvercommit
	}
	return d.admission.tally.OvercommitOf(infra)
}

// maxSessions returns the configured max_sessions, 0 for no limit.
func (d *providerData) maxSessions() int64 {
	if d == nil || d.admission == nil {
		return 0
	}
	return d.admission.tally.MaxSessions
}

// sessionDeleted tells the admission that this process deleted a session: an apply
// that replaces a session deletes it before planning its successor as new.
func (d *providerData) sessionDeleted(ctx context.Context, state workshopSessionModel) {
	if d == nil || d.admission == nil {
		return
	}
	res := resourcesFrom(ctx, state.EffectiveResources, &diag.Diagnostics{})
	cpu, _ := plannedMilliCPU(res.CPU, 0, false)
	mem, _ := plannedMemory(res.Memory, 0, false)
	if stoppedIn(state) {
		cpu, mem = 0, 0 // the snapshot did not count its reservation, only the session
	}
	d.admission.tally.Free(workshop.InfrastructureType(state.InfrastructureType.ValueString()), cpu, mem)
}

// sessionCreating tells the admission that this process creates sessions.
func (d *providerData) sessionCreating() {
	if d != nil && d.admission != nil {
		d.admission.created.Store(true)
	}
}
