package provider

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Typo-proof shapes. Terraform converts the value of a nested attribute
// (`x = { ... }`) to the attribute's object type before the provider sees it and
// silently drops keys the type does not have (hashicorp/terraform#33570): a misspelt
// `memroy` would leave the default memory in place without a word. So every setting
// that shapes a budget or security is one of:
//   - a block (`docker { ... }`): Terraform itself reports "Unsupported argument";
//   - a map with a key validator (`resources = { cpu = "250m" }`): the provider sees
//     every key and names the unknown one, with a suggestion.

// mapKeysValidator accepts only the listed keys and runs each key's own validators
// on its value (at the path `<attribute>["<key>"]`).
type mapKeysValidator struct {
	keys map[string][]validator.String
}

var _ validator.Map = mapKeysValidator{}

// mapKeys is the validator of a map(string) attribute with a fixed set of keys.
func mapKeys(keys map[string][]validator.String) validator.Map {
	return mapKeysValidator{keys: keys}
}

func (v mapKeysValidator) allowed() []string {
	out := make([]string, 0, len(v.keys))
	for k := range v.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (v mapKeysValidator) Description(context.Context) string {
	return "keys must be among " + strings.Join(v.allowed(), ", ")
}

func (v mapKeysValidator) MarkdownDescription(context.Context) string {
	return "keys must be among `" + strings.Join(v.allowed(), "`, `") + "`"
}

func (v mapKeysValidator) ValidateMap(ctx context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	elems := req.ConfigValue.Elements()
	names := make([]string, 0, len(elems))
	for k := range elems {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs, ok := v.keys[k]
		if !ok {
			msg := fmt.Sprintf("%s: unknown key %q", req.Path, k)
			if s := didYouMean(k, v.allowed()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msg += "; the keys are " + strings.Join(v.allowed(), ", ") + "."
			resp.Diagnostics.AddAttributeError(req.Path.AtMapKey(k), "Unknown key", msg)
			continue
		}
		s, isString := elems[k].(types.String)
		if !isString {
			continue
		}
		sreq := validator.StringRequest{
			Path: req.Path.AtMapKey(k), PathExpression: req.PathExpression.AtMapKey(k),
			ConfigValue: s, Config: req.Config,
		}
		for _, sv := range vs {
			sresp := &validator.StringResponse{}
			sv.ValidateString(ctx, sreq, sresp)
			resp.Diagnostics.Append(sresp.Diagnostics...)
		}
	}
}

// didYouMean returns the candidate closest to a misspelt key (at most two edits, or
// one of them a prefix of the other), or "".
func didYouMean(key string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(key), c)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	for _, c := range candidates {
		if len(key) >= 2 && (strings.HasPrefix(c, strings.ToLower(key)) || strings.HasPrefix(strings.ToLower(key), c)) {
			return c
		}
	}
	return ""
}

// editDistance is the Damerau-Levenshtein (optimal string alignment) distance: a
// swapped pair of letters ("memroy") counts as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// resourcesKeys validates a `resources` map: cpu, memory and storage, each a quantity.
func resourcesKeys() validator.Map {
	return mapKeys(map[string][]validator.String{
		"cpu":          {cpuQuantity()},
		"memory":       {memoryQuantity()},
		"storage":      {storageQuantity()},
		"gpu":          {gpuCount()},
		"gpu_resource": {gpuResourceName()},
	})
}

// resourcesShapeNote is the sentence every `resources` description ends with.
const resourcesShapeNote = " A map rather than a nested object so that a misspelt key is an error " +
	"(`resources: unknown key \"memroy\" (did you mean \"memory\"?)`) instead of being dropped silently."

// resourcesFromMap reads a `resources` map: absent keys are null; an unknown map
// makes every value unknown.
func resourcesFromMap(m types.Map) resourcesModel {
	if m.IsUnknown() {
		return unknownResources()
	}
	r := nullResources()
	if m.IsNull() {
		return r
	}
	get := func(k string) types.String {
		if v, ok := m.Elements()[k].(types.String); ok {
			return v
		}
		return types.StringNull()
	}
	r.CPU, r.Memory, r.Storage = get("cpu"), get("memory"), get("storage")
	r.GPU, r.GPUResource = get("gpu"), get("gpu_resource")
	return r
}

// resourcesMap is the `resources` map of the non-null values of r; null when none is.
func resourcesMap(r resourcesModel, diags *diag.Diagnostics) types.Map {
	elems := map[string]attr.Value{}
	for k, v := range map[string]types.String{"cpu": r.CPU, "memory": r.Memory, "storage": r.Storage, "gpu": r.GPU, "gpu_resource": r.GPUResource} {
		if !v.IsNull() {
			elems[k] = v
		}
	}
	if len(elems) == 0 {
		return types.MapNull(types.StringType)
	}
	m, d := types.MapValue(types.StringType, elems)
	diags.Append(d...)
	return m
}

// blockShapeNote ends the description of every provider block.
const blockShapeNote = "A block (`name { ... }`, no `=`) rather than a nested attribute, so that a misspelt " +
	"argument in it is an error (Terraform reports \"Unsupported argument\") instead of being dropped silently."

// nonDefaultResources keeps the values of r that differ from the backend's defaults:
// the best guess of what a configuration wrote, for imports and state upgrades.
func nonDefaultResources(r workshop.Resources, infra workshop.InfrastructureType) resourcesModel {
	def := workshop.DefaultResources(infra)
	keep := func(v, d string) types.String {
		if v == "" || workshop.SameQuantity(v, d) {
			return types.StringNull()
		}
		return types.StringValue(v)
	}
	return resourcesModel{CPU: keep(r.CPU, def.CPU), Memory: keep(r.Memory, def.Memory), Storage: keep(r.Storage, def.Storage),
		GPU: optString(r.GPU, types.StringNull()), GPUResource: keep(r.GPUResource, workshop.DefaultGPUResource)}
}
