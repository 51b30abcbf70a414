package provider

import "github.com/hashicorp/terraform-plugin-framework/types"

// blockReader reads a provider block's values into a backend configuration and
// remembers whether one of them was unknown (a plan before the values it depends on
// exist): the backend is then not configured during this plan.
type blockReader struct{ known bool }

func newBlockReader() *blockReader { return &blockReader{known: true} }

func (r *blockReader) stringValue(v types.String) string {
	if v.IsUnknown() {
		r.known = false
	}
	return v.ValueString()
}

func (r *blockReader) int64Value(v types.Int64) int64 {
	if v.IsUnknown() {
		r.known = false
	}
	return v.ValueInt64()
}

func (r *blockReader) boolValue(v types.Bool) bool {
	if v.IsUnknown() {
		r.known = false
	}
	return v.ValueBool()
}
