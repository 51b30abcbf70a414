package provider

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/nalabo/terraform-provider-nalabo/internal/hostpath"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// hostDirDoc ends the MarkdownDescription of every attribute that declares a host
// directory.
const hostDirDoc = " It must not be, contain or lie inside a host system directory (`/`, `/etc`, `/proc`, `/sys`, " +
	"`/dev`, `/run`, `/var/run`, `/var/lib/docker`, `/usr`, ...), the Docker socket, or a home or credential " +
	"directory, as written or after following symlinks: refused at plan time, and again by the backend."

// hostDirectory refuses a declared directory (compose_directory, an apply's context, a
// build context) that exposes host system paths; relative paths resolve against the
// directory Terraform runs in, as the backend will.
func hostDirectory() validator.String {
	return checkValidator{"Host path refused",
		"must not be, contain or lie inside a host system directory, the Docker socket or a home directory",
		func(s string) error {
			abs, err := filepath.Abs(s)
			if err != nil {
				return err
			}
			return hostpath.Default().Check(abs)
		}}
}

// envKeys refuses environment variable names the runtime would change: empty, with
// '=' or a NUL.
type envKeysValidator struct{}

var _ validator.Map = envKeysValidator{}

func envKeys() validator.Map { return envKeysValidator{} }

func (envKeysValidator) Description(context.Context) string {
	return "variable names must not be empty nor contain '=' or a NUL character"
}
func (v envKeysValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (envKeysValidator) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	keys := make([]string, 0, len(req.ConfigValue.Elements()))
	for k := range req.ConfigValue.Elements() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := workshop.ValidateEnvKey(k); err != nil {
			resp.Diagnostics.AddAttributeError(req.Path, "Invalid environment variable name", fmt.Sprintf("%s: %v.", req.Path, err))
		}
	}
}
