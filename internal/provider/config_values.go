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

// stringList reads a list of strings: nil when null (the default), an empty slice
// when set to [] (an answer of its own).
func (r *blockReader) stringList(l types.List) []string {
	if l.IsUnknown() {
		r.known = false
		return nil
	}
	if l.IsNull() {
		return nil
	}
	out := []string{}
	for _, e := range l.Elements() {
		if s, ok := e.(types.String); ok && !s.IsUnknown() {
			out = append(out, s.ValueString())
		} else {
			r.known = false
		}
	}
	return out
}

// stringMap reads a map of strings: nil when null.
func (r *blockReader) stringMap(m types.Map) map[string]string {
	if m.IsUnknown() {
		r.known = false
		return nil
	}
	if m.IsNull() {
		return nil
	}
	out := map[string]string{}
	for k, e := range m.Elements() {
		if s, ok := e.(types.String); ok && !s.IsUnknown() {
			out[k] = s.ValueString()
		} else {
			r.known = false
		}
	}
	return out
}
