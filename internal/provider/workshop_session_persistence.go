package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
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
	Size       types.String `tfsdk:"size"`
	RetainDays types.Int64  `tfsdk:"retain_days"`
}

var persistenceAttrTypes = map[string]attr.Type{"size": types.StringType, "retain_days": types.Int64Type}

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
			PlanModifiers: []planmodifier.Object{objectplanmodifier.RequiresReplace()},
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
			},
		},
		"state": schema.StringAttribute{
			MarkdownDescription: "`running` (default) or `stopped`. `stopped` stops a persistent session in place (its " +
				"containers stopped on Docker, its workspace pod deleted on Kubernetes; the home is kept, commands and the " +
				"terminal are refused) and `running` resumes it; both change in place. A stopped session reserves no CPU or " +
				"memory in the provider's class admission (`docker.overcommit`, `kubernetes.overcommit`); a resume is " +
				"admitted like a new session and refused, naming `state`, when the host is full. Needs `persistence`. A refresh " +
				"reads it from the session, so a persistent session stopped outside Terraform shows `stopped` and the " +
				"next apply resumes it. An expired session stays stopped whatever this says, until `duration` is extended.",
			Optional:   true,
			Computed:   true,
			Default:    stringdefault.StaticString(workshop.StateRunning),
			Validators: []validator.String{stringvalidator.OneOf(workshop.StateRunning, workshop.StateStopped)},
		},
	}
}

// persistenceFrom reads a known, non-null persistence attribute; nil otherwise.
func persistenceFrom(ctx context.Context, o types.Object, diags *diag.Diagnostics) *workshop.Persistence {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	var m persistenceModel
	diags.Append(o.As(ctx, &m, asOpts)...)
	p := &workshop.Persistence{Size: m.Size.ValueString(), RetainDays: workshop.DefaultRetainDays}
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
