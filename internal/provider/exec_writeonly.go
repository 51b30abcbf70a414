package provider

import (
	"context"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// env_wo of nalabo_exec: secrets a command needs (a registry token, a password it
// sets up) that must not land in the plan or the state, as `env` values do.

const envWODescription = "Environment variables of the command that are never stored: write-only, so they are in " +
	"neither the plan nor the state (Terraform >= 1.11; older versions refuse the argument at plan time). For secrets: tokens, " +
	"passwords. Since nothing is kept to compare, changing a value does not run the command again: change `triggers` " +
	"with it (for example a version number). A name may not be in both `env` and `env_wo`. The command's stdout and stderr " +
	"are stored: do not print the values. Example: `env_wo = { API_TOKEN = var.api_token }` with " +
	"`variable \"api_token\" { ephemeral = true }`, so the value is not in the plan's variables either."

// execEnv is env plus env_wo, the latter read from the configuration: the plan holds
// it as null.
func execEnv(ctx context.Context, env types.Map, config tfsdk.Config, diags *diag.Diagnostics) map[string]string {
	out := mapStrings(ctx, env, diags)
	if config.Raw.IsNull() {
		return out
	}
	var wo types.Map
	diags.Append(config.GetAttribute(ctx, path.Root("env_wo"), &wo)...)
	if wo.IsNull() || wo.IsUnknown() {
		return out
	}
	secret := mapStrings(ctx, wo, diags)
	if out == nil {
		out = make(map[string]string, len(secret))
	}
	for k, v := range secret {
		out[k] = v
	}
	return out
}

// ValidateConfig refuses a name in both env and env_wo: one value would silently win.
func (r *execResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var env, wo types.Map
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("env"), &env)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("env_wo"), &wo)...)
	if resp.Diagnostics.HasError() || env.IsNull() || env.IsUnknown() || wo.IsNull() || wo.IsUnknown() {
		return
	}
	var both []string
	for k := range wo.Elements() {
		if _, ok := env.Elements()[k]; ok {
			both = append(both, k)
		}
	}
	if len(both) > 0 {
		sort.Strings(both)
		resp.Diagnostics.AddAttributeError(path.Root("env_wo"), "Variable in env and env_wo",
			"env_wo: "+strings.Join(both, ", ")+" also in env; give each variable in one of them (env_wo for secrets).")
	}
}
