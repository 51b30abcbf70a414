package provider

import (
	"context"
	"errors"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Kubernetes scheduling of a template's sessions (GPU node pools): node_selector,
// toleration blocks and runtime_class_name on the workspace pod. Kubernetes templates
// only; part of the digest.

type tolerationModel struct {
	Key               types.String `tfsdk:"key"`
	Operator          types.String `tfsdk:"operator"`
	Value             types.String `tfsdk:"value"`
	Effect            types.String `tfsdk:"effect"`
	TolerationSeconds types.Int64  `tfsdk:"toleration_seconds"`
}

var tolerationAttrTypes = map[string]attr.Type{
	"key": types.StringType, "operator": types.StringType, "value": types.StringType,
	"effect": types.StringType, "toleration_seconds": types.Int64Type,
}

const kubernetesOnly = " Kubernetes templates only (setting it on a docker or swarm template is an error); part of the `digest`."

func nodeSelectorAttribute() schema.Attribute {
	return schema.MapAttribute{
		MarkdownDescription: "Node labels the workspace pod of every session must run on, for example " +
			"`{ \"cloud.google.com/gke-accelerator\" = \"nvidia-l4\" }` for a GKE GPU node pool. The template's manifests " +
			"keep their own placement." + kubernetesOnly,
		ElementType: types.StringType,
		Optional:    true,
	}
}

func runtimeClassNameAttribute() schema.Attribute {
	return schema.StringAttribute{
		MarkdownDescription: "RuntimeClass of the workspace pod, for example `nvidia` where the NVIDIA GPU Operator " +
			"installs one." + kubernetesOnly,
		Optional: true,
	}
}

func tolerationBlock() schema.Block {
	return schema.ListNestedBlock{
		MarkdownDescription: "A taint the workspace pod tolerates (repeat the block for several), for example " +
			"`toleration { key = \"nvidia.com/gpu\", operator = \"Exists\", effect = \"NoSchedule\" }` for a tainted GPU node " +
			"pool (AKS, GKE and EKS GPU pools are usually tainted)." + kubernetesOnly,
		NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
			"key": schema.StringAttribute{MarkdownDescription: "Taint key; empty with operator `Exists` tolerates every taint.",
				Optional: true},
			"operator": schema.StringAttribute{MarkdownDescription: "`Equal` (default) or `Exists`.", Optional: true,
				Validators: []validator.String{stringvalidator.OneOf(workshop.TolerationOperators...)}},
			"value": schema.StringAttribute{MarkdownDescription: "Taint value (operator `Equal`).", Optional: true},
			"effect": schema.StringAttribute{MarkdownDescription: "`NoSchedule`, `PreferNoSchedule` or `NoExecute`; empty for all.",
				Optional: true, Validators: []validator.String{stringvalidator.OneOf(workshop.TolerationEffects...)}},
			"toleration_seconds": schema.Int64Attribute{MarkdownDescription: "How long a `NoExecute` taint is tolerated (unset: forever).",
				Optional: true},
		}},
	}
}

// tolerations reads the toleration blocks.
func (m *workshopTemplateModel) tolerations(ctx context.Context, diags *diag.Diagnostics) []workshop.Toleration {
	if m.Tolerations.IsNull() || m.Tolerations.IsUnknown() {
		return nil
	}
	var ts []tolerationModel
	diags.Append(m.Tolerations.ElementsAs(ctx, &ts, false)...)
	var out []workshop.Toleration
	for _, t := range ts {
		wt := workshop.Toleration{Key: t.Key.ValueString(), Operator: t.Operator.ValueString(), Value: t.Value.ValueString(), Effect: t.Effect.ValueString()}
		if !t.TolerationSeconds.IsNull() && !t.TolerationSeconds.IsUnknown() {
			wt.Seconds = t.TolerationSeconds.ValueInt64Pointer()
		}
		out = append(out, wt)
	}
	return out
}

// schedulingToTemplate copies the scheduling settings of a plan into t.
func (m *workshopTemplateModel) schedulingToTemplate(ctx context.Context, t *workshop.Template, diags *diag.Diagnostics) {
	t.NodeSelector = mapStrings(ctx, m.NodeSelector, diags)
	t.Tolerations = m.tolerations(ctx, diags)
	t.RuntimeClassName = m.RuntimeClassName.ValueString()
}

// schedulingFromTemplate fills the state's scheduling settings from a stored template.
func (m *workshopTemplateModel) schedulingFromTemplate(ctx context.Context, t *workshop.Template, prior *workshopTemplateModel, diags *diag.Diagnostics) {
	m.NodeSelector = stringMap(ctx, t.NodeSelector, prior.NodeSelector, diags)
	m.RuntimeClassName = optString(t.RuntimeClassName, prior.RuntimeClassName)
	elems := make([]attr.Value, 0, len(t.Tolerations))
	for _, tol := range t.Tolerations {
		o, d := types.ObjectValue(tolerationAttrTypes, map[string]attr.Value{
			"key": optString(tol.Key, types.StringNull()), "operator": optString(tol.Operator, types.StringNull()),
			"value": optString(tol.Value, types.StringNull()), "effect": optString(tol.Effect, types.StringNull()),
			"toleration_seconds": types.Int64PointerValue(tol.Seconds),
		})
		diags.Append(d...)
		elems = append(elems, o)
	}
	l, d := types.ListValue(types.ObjectType{AttrTypes: tolerationAttrTypes}, elems)
	diags.Append(d...)
	m.Tolerations = l
}

// validateScheduling reports at plan time what workshop.Template.ValidateScheduling
// refuses (settings on the wrong infrastructure, a GPU where none can run, malformed
// names), on the attribute it concerns.
func validateScheduling(ctx context.Context, m workshopTemplateModel, diags *diag.Diagnostics) {
	if !knownString(m.InfrastructureType) || m.Isolation.IsUnknown() || m.Resources.IsUnknown() ||
		m.NodeSelector.IsUnknown() || m.Tolerations.IsUnknown() || m.RuntimeClassName.IsUnknown() {
		return
	}
	t := workshop.Template{
		Infrastructure: workshop.InfrastructureType(m.InfrastructureType.ValueString()),
		Isolation:      workshop.Isolation(m.Isolation.ValueString()),
		Resources:      resourcesFromMap(m.Resources).workshop(),
	}
	if t.Infrastructure == workshop.InfraKubernetes && t.Isolation == "" {
		t.Isolation = workshop.IsolationVCluster
	}
	m.schedulingToTemplate(ctx, &t, diags)
	for _, fe := range fieldErrors(errors.Join(t.ValidateScheduling()...)) {
		diags.AddAttributeError(hclPath(fe.Path), "Invalid template setting", fe.Path+": "+strings.TrimSuffix(fe.Msg, ".")+".")
	}
}
