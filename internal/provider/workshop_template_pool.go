package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// poolParallelism bounds the pool entries the provider starts at once.
const poolParallelism = 4

// resizePool brings the template's warm pool to warm_pool free entries (DESIGN.md, "Warm
// pool"): growing is left to a reconciler that leads (it refills every pass), shrinking
// and emptying are done here. A pool that cannot be filled is a warning: sessions then
// start cold.
func (r *workshopTemplateResource) resizePool(ctx context.Context, b backendImpl, plan *workshopTemplateModel, diags *diag.Diagnostics) {
	p, ok := b.(workshop.WarmPooler)
	if !ok || plan.WarmPool.IsNull() || plan.WarmPool.IsUnknown() {
		return
	}
	id, n := plan.ID.ValueString(), int(plan.WarmPool.ValueInt64())
	fields := map[string]any{"template_id": id, "warm_pool": n}
	t, err := b.GetTemplate(ctx, id)
	if err != nil {
		addBackendError(diags, "read the template "+id+" to resize its warm pool", err)
		return
	}
	if n > 0 && p.ReconcilerRefills(ctx) {
		// Growing is the reconciler's; shrinking is immediate.
		if pools, err := p.Pools(ctx, id); err != nil || !hasSurplus(pools, id, n) {
			tflog.Info(ctx, "a leading reconciler refills the warm pools: it fills this one", fields)
			return
		}
	}
	tflog.Info(ctx, "resizing the warm pool", fields)
	st, err := p.ResizePool(ctx, t, n, poolParallelism)
	fields["free"], fields["filling"], fields["claimed"] = st.Free, st.Filling, st.Claimed
	if err != nil {
		fields["error"] = err.Error()
		tflog.Warn(ctx, "the warm pool could not be resized", fields)
		diags.AddAttributeWarning(path.Root("warm_pool"), "Warm pool not filled",
			fmt.Sprintf("warm_pool = %d: the pool of %s has %d free entries: %s\n\nSessions of this template start cold "+
				"when no entry is free; the next apply (or a reconciler) fills the pool again.", n, id, st.Free, err))
		return
	}
	tflog.Info(ctx, "warm pool resized", fields)
}

// hasSurplus reports whether template id's pool holds more free entries than n.
func hasSurplus(pools []workshop.PoolStatus, id string, n int) bool {
	for _, s := range pools {
		if s.TemplateID == id {
			return s.Free > n
		}
	}
	return false
}

// readPool reports a pool short of warm_pool (claims emptied it) as the pool's size, when
// no reconciler refills the pools: the next plan shows warm_pool changing back to the configured
// size, and its apply refills the pool. A reconciler that leads refills it by itself.
func (r *workshopTemplateResource) readPool(ctx context.Context, t *workshop.Template, m *workshopTemplateModel) {
	if t.WarmPool <= 0 || r.data == nil {
		return
	}
	b, bd := r.data.Backend(ctx, t.Infrastructure)
	p, ok := b.(workshop.WarmPooler)
	if bd.HasError() || !ok || p.ReconcilerRefills(ctx) {
		return
	}
	pools, err := p.Pools(ctx, t.ID)
	if err != nil {
		tflog.Warn(ctx, "warm pool not readable", map[string]any{"template_id": t.ID, "error": err.Error()})
		return
	}
	have := 0
	for _, s := range pools {
		if s.TemplateID == t.ID {
			have = s.Free + s.Filling
		}
	}
	if have < t.WarmPool {
		tflog.Info(ctx, "the warm pool is short; the next apply refills it", map[string]any{"template_id": t.ID, "warm_pool": t.WarmPool, "free": have})
		m.WarmPool = types.Int64Value(int64(have))
	}
}
