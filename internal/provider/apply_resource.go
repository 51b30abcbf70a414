package provider

import (
	"context"
	"errors"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

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

// defaultApplyService names the service of a dockerfile apply with run = true.
const defaultApplyService = "app"

// statusMissing is the status ReadConfig gives an object that is gone.
const statusMissing = "missing"

// NewApplyResource is the nalabo_apply resource.
func NewApplyResource() resource.Resource { return &applyResource{} }

type applyResource struct {
	data *providerData
}

func (r *applyResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_apply"
}

func (r *applyResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
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
	validateApplyConfiguration(ctx, typ, m.Configuration.ValueString(), m.Context.ValueString(), &resp.Diagnostics)
}

// validateApplyConfiguration parses configuration as its type says, one diagnostic on
// configuration per problem.
func validateApplyConfiguration(ctx context.Context, typ, content, contextDir string, diags *diag.Diagnostics) {
	cfgPath := path.Root("configuration")
	switch typ {
	case workshop.ConfigCompose:
		proj, err := compose.Parse(ctx, content, compose.Options{ProjectName: "apply", Dir: contextDir})
		var de *compose.DirError
		switch {
		case errors.As(err, &de):
			// context's validator reports it, on that attribute.
		case err != nil:
			for _, p := range compose.Problems(err) {
				diags.AddAttributeError(cfgPath, "Invalid Compose file", "configuration: "+p.Error())
			}
			if len(compose.Problems(err)) == 0 {
				diags.AddAttributeError(cfgPath, "Invalid Compose file", "configuration: "+err.Error())
			}
		default:
			addComposeWarnings(diags, cfgPath, "configuration", proj)
		}
	case workshop.ConfigDockerfile:
		if err := applycheck.Dockerfile(content); err != nil {
			diags.AddAttributeError(cfgPath, "Invalid Dockerfile", "configuration: "+err.Error())
		}
	case workshop.ConfigYAML:
		if _, err := manifest.Parse(content); err != nil {
			for _, e := range splitJoined(err) {
				diags.AddAttributeError(cfgPath, "Invalid YAML", "configuration: "+e.Error())
			}
		}
	}
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
	sum, err := plan.contextSHA256()
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("context"), "Invalid context", "context: "+err.Error())
		return
	}
	plan.ContextSHA256 = sum
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
