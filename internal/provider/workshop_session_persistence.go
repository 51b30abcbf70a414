package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Persistent homes and stop/resume in place (issue 17; DESIGN.md, "Persistent homes").

// persistenceModel is the session's persistence attribute.
type persistenceModel struct {
	Size        types.String `tfsdk:"size"`
	RetainDays  types.Int64  `tfsdk:"retain_days"`
	PauseExpiry types.Bool   `tfsdk:"pause_expiry"`
}

var persistenceAttrTypes = map[string]attr.Type{
	"size": types.StringType, "retain_days": types.Int64Type, "pause_expiry": types.BoolType,
}

// sessionPersistenceAttributes are the session's persistence and state attributes.
func sessionPersistenceAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"persistence": schema.SingleNestedAttribute{
			MarkdownDescription: "A persistent home for the participant: the workspace's working directory lives in a Docker " +
				"volume (`nalabo-session-<id>-workspace`) or, on Kubernetes, a PersistentVolumeClaim (`home`) that outlives " +
				"the session's containers, so that the session can be stopped and resumed with `state`. At `expires_at` the " +
				"reconciler stops a persistent session instead of deleting it, and deletes it with its data `retain_days` " +
				"later; `terraform destroy` deletes everything at once. Unset: the home goes with the containers, the " +
				"session is deleted at expiry and cannot be stopped. Not to be confused with the provider's " +
				"`kubernetes.vcluster.persistence` (where a virtual cluster keeps its own data store, see `vcluster.persistence`): " +
				"this one is the participant's files, and it is not available on `isolation = \"vcluster\"` sessions nor on " +
				"Swarm. A change replaces the session (and deletes its data).",
			Optional:      true,
			PlanModifiers: []planmodifier.Object{persistenceRequiresReplace()},
			Attributes: map[string]schema.Attribute{
				"size": schema.StringAttribute{
					MarkdownDescription: "Size of the home, a Kubernetes storage quantity such as `1Gi` (at least `64Mi`). " +
						"Kubernetes requests it for the claim; Docker volumes cannot be capped, so on Docker it is recorded " +
						"(label `nalabo.io/persistent-size`) and the volume counts toward the session's `storage` in the " +
						"reconciler's storage metering.",
					Required:   true,
					Validators: []validator.String{storageQuantity()},
				},
				"retain_days": schema.Int64Attribute{
					MarkdownDescription: fmt.Sprintf("Days an expired session stays stopped with its data before the "+
						"reconciler deletes it: 0 to %d, default %d. Within them, a longer `duration` resumes it.",
						workshop.MaxRetainDays, workshop.DefaultRetainDays),
					Optional:   true,
					Computed:   true,
					Default:    int64default.StaticInt64(workshop.DefaultRetainDays),
					Validators: []validator.Int64{int64validator.Between(0, workshop.MaxRetainDays)},
				},
				"pause_expiry": schema.BoolAttribute{
					MarkdownDescription: "Whether the session's lifetime pauses while it is stopped (default `false`). " +
						"`true`: a session stopped with `state = \"stopped\"` before `expires_at` does not expire while it " +
						"stays stopped (its `status` stays `stopped`, and the reconciler leaves it stopped), and resuming it " +
						"moves `expires_at` by the time it stayed stopped, so that the participant gets their remaining time " +
						"back (the change shows as `expires_at` known after apply). The data is still deleted at the first " +
						"`expires_at` plus `retain_days` when the session is never resumed: a pause is bounded by the " +
						"retention. A stop at or after expiry (the reconciler's) pauses nothing. `false`: the lifetime runs " +
						"while stopped; a session that expired while stopped needs a longer `duration` to resume.",
					Optional: true,
					Computed: true,
					Default:  booldefault.StaticBool(false),
				},
			},
		},
		"state": schema.StringAttribute{
			MarkdownDescription: "`running` (default) or `stopped`. `stopped` stops a persistent session in place (its " +
				"containers stopped on Docker; on Kubernetes its workspace pod and the other pods without an owner deleted and " +
				"its Deployments, StatefulSets and ReplicaSets scaled to zero, their replicas recorded in the namespace's " +
				"annotation `nalabo.io/stopped-workloads`; the home is kept, commands and the terminal are refused) and " +
				"`running` resumes it (the workloads back to their replicas and ready, then the workspace); both change in " +
				"place. An apply interrupted during either is finished by the next one. A stopped session reserves no CPU or " +
				"memory in the provider's class admission (`docker.overcommit`, `kubernetes.overcommit`); a resume is " +
				"admitted like a new session and refused, naming `state`, when the host is full. Needs `persistence`. A refresh " +
				"reads it from the session, so a persistent session stopped outside Terraform shows `stopped` and the " +
				"next apply resumes it. An expired session stays stopped whatever this says, until `duration` is extended; " +
				"with `persistence.pause_expiry`, a session stopped before it expired does not expire while stopped.",
			Optional:   true,
			Computed:   true,
			Default:    stringdefault.StaticString(workshop.StateRunning),
			Validators: []validator.String{stringvalidator.OneOf(workshop.StateRunning, workshop.StateStopped)},
		},
	}
}

// persistenceRequiresReplace replaces the session when its persistence changes, except
// when only pause_expiry goes from null (a state written before the attribute existed)
// to false: that is the same session, and a provider upgrade must not delete homes.
func persistenceRequiresReplace() planmodifier.Object {
	return objectplanmodifier.RequiresReplaceIf(func(ctx context.Context, req planmodifier.ObjectRequest, resp *objectplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = true
		if req.StateValue.IsNull() || req.PlanValue.IsNull() || req.PlanValue.IsUnknown() {
			return
		}
		var st, pl persistenceModel
		if req.StateValue.As(ctx, &st, asOpts).HasError() || req.PlanValue.As(ctx, &pl, asOpts).HasError() {
			return
		}
		if st.PauseExpiry.IsNull() && !pl.PauseExpiry.ValueBool() {
			st.PauseExpiry = pl.PauseExpiry
		}
		resp.RequiresReplace = !st.Size.Equal(pl.Size) || !st.RetainDays.Equal(pl.RetainDays) || !st.PauseExpiry.Equal(pl.PauseExpiry)
	}, "A change of persistence replaces the session.", "A change of `persistence` replaces the session.")
}

// persistenceFrom reads a known, non-null persistence attribute; nil otherwise.
func persistenceFrom(ctx context.Context, o types.Object, diags *diag.Diagnostics) *workshop.Persistence {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	var m persistenceModel
	diags.Append(o.As(ctx, &m, asOpts)...)
	p := &workshop.Persistence{Size: m.Size.ValueString(), RetainDays: workshop.DefaultRetainDays,
		PauseExpiry: m.PauseExpiry.ValueBool()}
	if !m.RetainDays.IsNull() && !m.RetainDays.IsUnknown() {
		p.RetainDays = int(m.RetainDays.ValueInt64())
	}
	return p
}

// persistenceValue is the attribute of an imported session (null without persistence).
func persistenceValue(p *workshop.Persistence, diags *diag.Diagnostics) types.Object {
	if p == nil {
		return types.ObjectNull(persistenceAttrTypes)
	}
	o, d := types.ObjectValue(persistenceAttrTypes, map[string]attr.Value{
		"size": types.StringValue(p.Size), "retain_days": types.Int64Value(int64(p.RetainDays)),
		"pause_expiry": types.BoolValue(p.PauseExpiry),
	})
	diags.Append(d...)
	return o
}

// planPersistence checks state and persistence against each other and the
// infrastructure, and marks what a stop or resume changes as unknown.
func planPersistence(plan *workshopSessionModel, state *workshopSessionModel, diags *diag.Diagnostics) {
	persistent := !plan.Persistence.IsNull()
	if plan.State.ValueString() == workshop.StateStopped && !persistent && !plan.Persistence.IsUnknown() {
		diags.AddAttributeError(path.Root("state"), "A session without persistence cannot be stopped",
			`state = "stopped" needs a persistent home: set persistence = { size = "1Gi" } (a change of persistence replaces the session).`)
	}
	if persistent && knownString(plan.TemplateID) {
		if infra, _, _, err := workshop.ParseTemplateID(plan.TemplateID.ValueString()); err == nil && infra == workshop.InfraSwarm {
			diags.AddAttributeError(path.Root("persistence"), "Persistence is not available on Swarm",
				"persistence: a Swarm session's containers may move between nodes, and a local volume does not follow them. "+
					"Use a docker or kubernetes template.")
		}
	}
	if state == nil {
		return
	}
	if !valuesEqual(plan.State, state.State) || (persistent && !valuesEqual(plan.Duration, state.Duration)) {
		// A stop or resume (or an extension that resumes an expired session) changes
		// the status and, on Docker, the host ports chosen at start.
		plan.Status = types.StringUnknown()
		plan.Ports = types.ListUnknown(types.ObjectType{AttrTypes: portAttrTypes})
	}
}

// refreshState sets the state attribute from a live persistent session: stopped or
// running, unless it expired (stopped by the reconciler whatever the configuration
// says) or its status hides it (over_quota, degraded). A session without persistence
// is running.
func refreshState(state *workshopSessionModel, s *workshop.Session) {
	running, stopped := types.StringValue(workshop.StateRunning), types.StringValue(workshop.StateStopped)
	switch {
	case s.Persistence == nil:
		state.State = running
	case s.Status == workshop.StatusStopped:
		state.State = stopped
	case s.Status == workshop.StatusRunning || s.Status == workshop.StatusPending || s.Status == workshop.StatusUnhealthy:
		state.State = running
	case state.State.IsNull() || state.State.IsUnknown():
		state.State = running
	}
}

// applyState stops or starts a persistent session as the plan asks and returns what
// the session is now.
func applyState(ctx context.Context, b workshop.Backend, s *workshop.Session, want string, diags *diag.Diagnostics) *workshop.Session {
	if s == nil || s.Persistence == nil {
		return s
	}
	stop := want == workshop.StateStopped && !s.Stopped
	start := want == workshop.StateRunning && s.Stopped && s.Status != workshop.StatusExpired
	if !stop && !start {
		return s
	}
	p, ok := b.(workshop.SessionPauser)
	if !ok {
		diags.AddAttributeError(path.Root("state"), "Cannot stop or resume",
			fmt.Sprintf("state: the %s backend cannot stop a session in place.", s.Infrastructure))
		return s
	}
	fields := map[string]any{"session_id": s.ID, "state": want}
	if stop {
		tflog.Info(ctx, "stopping workshop session in place; its home is kept", fields)
		if err := p.StopSession(ctx, s.ID); err != nil {
			addBackendError(diags, "stop the session "+s.ID, err)
			return s
		}
		cur, err := b.GetSession(ctx, s.ID)
		if err != nil {
			addBackendError(diags, "read the stopped session "+s.ID, err)
			return s
		}
		return cur
	}
	tflog.Info(ctx, "resuming workshop session", fields)
	cur, err := p.StartSession(ctx, s.ID)
	if err != nil {
		addBackendError(diags, "resume the session "+s.ID, err)
		return s
	}
	return cur
}

// pauses reports whether a session model's persistence pauses its expiry.
func pauses(ctx context.Context, m workshopSessionModel) bool {
	var d diag.Diagnostics
	p := persistenceFrom(ctx, m.Persistence, &d)
	return p != nil && p.PauseExpiry && !d.HasError()
}

// pausedTime is how far resumed pauses moved a session's expiry: its expires_at beyond
// created_at plus duration (0 for a session whose expiry does not pause).
func pausedTime(ctx context.Context, state workshopSessionModel) time.Duration {
	if !pauses(ctx, state) {
		return 0
	}
	created, ok := parseTime(state.CreatedAt)
	exp, ok2 := parseTime(state.ExpiresAt)
	d, err := workshop.ParseSessionDuration(state.Duration.ValueString())
	if !ok || !ok2 || err != nil {
		return 0
	}
	return max(exp.Sub(created.Add(d)), 0)
}

// resumesPaused reports whether the plan resumes a stopped session whose expiry
// pauses: its expires_at moves at apply by the time it stayed stopped.
func resumesPaused(ctx context.Context, plan, state workshopSessionModel) bool {
	return state.State.ValueString() == workshop.StateStopped && plan.State.ValueString() == workshop.StateRunning &&
		pauses(ctx, state)
}
