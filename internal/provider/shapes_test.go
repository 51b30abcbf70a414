package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	fwpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestResourcesKeysValidator(t *testing.T) {
	ctx := context.Background()
	run := func(m map[string]string) []string {
		elems := map[string]attr.Value{}
		for k, v := range m {
			elems[k] = types.StringValue(v)
		}
		req := validator.MapRequest{Path: fwpath.Root("resources"), ConfigValue: types.MapValueMust(types.StringType, elems)}
		resp := &validator.MapResponse{}
		resourcesKeys().ValidateMap(ctx, req, resp)
		var out []string
		for _, d := range resp.Diagnostics {
			out = append(out, d.Summary()+": "+d.Detail())
		}
		return out
	}
	if got := run(map[string]string{"cpu": "250m", "memory": "128Mi", "storage": "1Gi"}); len(got) != 0 {
		t.Errorf("good keys: %v", got)
	}
	cases := map[string]string{
		"memroy":      `resources: unknown key "memroy" (did you mean "memory"?); the keys are cpu, gpu, gpu_resource, memory, storage.`,
		"cpus":        `(did you mean "cpu"?)`,
		"CPU":         `(did you mean "cpu"?)`,
		"storge":      `(did you mean "storage"?)`,
		"mem":         `(did you mean "memory"?)`,
		"gpus":        `(did you mean "gpu"?)`,
		"gpu_resourc": `(did you mean "gpu_resource"?)`,
		"network":     `resources: unknown key "network"; the keys are cpu, gpu, gpu_resource, memory, storage.`,
	}
	for key, want := range cases {
		got := run(map[string]string{"cpu": "250m", key: "1"})
		if len(got) != 1 || !strings.Contains(got[0], want) || !strings.HasPrefix(got[0], "Unknown key: ") {
			t.Errorf("%s: got %v, want one diagnostic containing %q", key, got, want)
		}
	}
	// The GPU keys' values are checked too.
	if got := run(map[string]string{"gpu": "1.5", "gpu_resource": "gpu"}); len(got) != 2 ||
		!strings.Contains(strings.Join(got, "\n"), "Invalid GPU count") || !strings.Contains(strings.Join(got, "\n"), "Invalid GPU resource name") {
		t.Errorf("gpu values: %v", got)
	}
	if got := run(map[string]string{"gpu": "2", "gpu_resource": "amd.com/gpu"}); len(got) != 0 {
		t.Errorf("good gpu keys: %v", got)
	}
	// Values are checked by their key's validator, at the key's path.
	got := run(map[string]string{"memory": "2Gm"})
	if len(got) != 1 || !strings.Contains(got[0], `resources["memory"]`) || !strings.Contains(got[0], "Invalid memory quantity") {
		t.Errorf("bad memory value: %v", got)
	}
	// Null, unknown and unknown values pass.
	for _, v := range []types.Map{types.MapNull(types.StringType), types.MapUnknown(types.StringType),
		types.MapValueMust(types.StringType, map[string]attr.Value{"cpu": types.StringUnknown()})} {
		resp := &validator.MapResponse{}
		resourcesKeys().ValidateMap(ctx, validator.MapRequest{Path: fwpath.Root("resources"), ConfigValue: v}, resp)
		if resp.Diagnostics.HasError() {
			t.Errorf("%s: %v", v, resp.Diagnostics)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"memroy", "memory", 1}, {"memory", "memory", 0}, {"cpu", "cpus", 1}, {"", "abc", 3}, {"storage", "storgae", 1}, {"disk", "cpu", 4}} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
