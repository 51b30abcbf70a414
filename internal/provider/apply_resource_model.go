package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// applyModel is the state and plan of nalabo_apply.
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

// contextSHA256 hashes the files under context: unknown while context is, null without it.
func (m *applyModel) contextSHA256() (types.String, error) {
	switch {
	case m.Context.IsUnknown():
		return types.StringUnknown(), nil
	case m.Context.IsNull():
		return types.StringNull(), nil
	}
	sum, err := workshop.HashDirectory(m.Context.ValueString())
	if err != nil {
		return types.StringNull(), err
	}
	return types.StringValue(sum), nil
}

// inventoryOf is the inventory a state records.
func (m *applyModel) inventoryOf(ctx context.Context, diags *diag.Diagnostics) *workshop.Inventory {
	return &workshop.Inventory{ApplyID: m.ID.ValueString(), Objects: objectsFrom(ctx, m.Objects, diags), Image: m.Image.ValueString()}
}

// requireConfigurator is configurator for Create and Update, where a missing session is
