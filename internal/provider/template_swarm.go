package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// placementConstraintsAttribute is the template's Swarm-only placement_constraints.
func placementConstraintsAttribute() schema.Attribute {
	return schema.ListAttribute{
		MarkdownDescription: "Swarm only: placement constraints of the sessions' services, in Swarm's syntax " +
			"(`node.labels.class==a`, `node.role!=manager`, `node.hostname==worker-2`, `engine.labels.<label>==<value>`). " +
			"Swarm runs each session on a node that satisfies all of them; when none does, the session's create fails " +
			"within seconds with Swarm's reason (\"no suitable node\") and the constraints, and leaves nothing behind. " +
			"Part of the `digest`. Setting it on a docker or kubernetes template is an error.",
		ElementType: types.StringType,
		Optional:    true,
		Validators:  []validator.List{listvalidator.ValueStringsAre(placementConstraintValidator{})},
	}
}

// placementConstraintValidator checks one constraint's syntax at plan time.
type placementConstraintValidator struct{}

var _ validator.String = placementConstraintValidator{}

func (placementConstraintValidator) Description(context.Context) string {
	return "must be a Swarm placement constraint (<attribute>==<value> or <attribute>!=<value>)"
}
func (v placementConstraintValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (placementConstraintValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := workshop.ValidatePlacementConstraint(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid placement constraint", err.Error()+".")
	}
}

// validateSwarmTemplate refuses, at plan time, what a swarm template cannot hold (see
// workshop.Template.validateSwarm), and placement_constraints elsewhere.
func validateSwarmTemplate(m workshopTemplateModel, ws *workspaceModel, diags *diag.Diagnostics) {
	set := func(v attr.Value) bool { return v != nil && !v.IsNull() }
	infra := m.InfrastructureType.ValueString()
	if infra != string(workshop.InfraSwarm) {
		if set(m.PlacementConstraints) {
			diags.AddAttributeError(path.Root("placement_constraints"), "Attribute applies to swarm templates only",
				fmt.Sprintf("placement_constraints applies to swarm templates only; this template has infrastructure_type = %q.", infra))
		}
		return
	}
	refused := map[string]attr.Value{
		"isolation": m.Isolation, "manifests": m.Manifests, "pod_security": m.PodSecurity, "vcluster_values": m.VClusterValues,
		"compose": m.Compose, "egress": m.Egress,
	}
	for name, v := range refused {
		if set(v) {
			diags.AddAttributeError(path.Root(name), "Attribute not supported on swarm templates",
				fmt.Sprintf("%s is not supported on swarm templates (infrastructure_type = \"swarm\"): a swarm session is its workspace service on an overlay network of its own.", name))
		}
	}
	if !m.DockerInDocker.IsNull() && !m.DockerInDocker.IsUnknown() && m.DockerInDocker.ValueBool() {
		diags.AddAttributeError(path.Root("docker_in_docker"), "Attribute not supported on swarm templates",
			"docker_in_docker is not supported on swarm templates: Swarm services are never privileged here.")
	}
	if ws != nil && set(ws.Build) {
		diags.AddAttributeError(path.Root("workspace").AtName("build"), "Attribute not supported on swarm templates",
			"workspace.build is not supported on swarm templates: every node must be able to run the image; give workspace.image (pushed to a registry the nodes pull from, or present on each node).")
	}
	if ws != nil && set(ws.Ports) && !ws.Ports.IsUnknown() && len(ws.Ports.Elements()) > 0 {
		diags.AddAttributeError(path.Root("workspace").AtName("ports"), "Attribute not supported on swarm templates",
			"workspace.ports are not supported on swarm templates yet.")
	}
}

// placementConstraintsValue is the state's value of a stored template's constraints:
// null when it has none, unless the prior value was an empty list.
func placementConstraintsValue(ctx context.Context, cs []string, prior types.List, diags *diag.Diagnostics) types.List {
	if len(cs) == 0 {
		if !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
			return prior
		}
		return types.ListNull(types.StringType)
	}
	l, d := types.ListValueFrom(ctx, types.StringType, cs)
	diags.Append(d...)
	return l
}
