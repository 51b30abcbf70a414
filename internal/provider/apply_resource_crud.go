package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

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
