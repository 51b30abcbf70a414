package provider

import (
	"context"
	"reflect"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// changedDigestAttributes names the digest-shaping attributes (workshop.DigestFields)
// that differ between plan and state, as SealTemplate will see them: under RulesContent
// paths on disk are not hashed (their files are, through context_sha256 and
// compose_builds), so a moved configuration updates the template in place.
func changedDigestAttributes(ctx context.Context, plan, state workshopTemplateModel, rules workshop.DigestRules) []string {
	var changed []string
	for _, f := range workshop.DigestFields() {
		if f.Attribute == "" {
			continue
		}
		p, okP := templateDigestValue(ctx, plan, f, rules)
		s, okS := templateDigestValue(ctx, state, f, rules)
		if !okP || !okS || !valuesEqual(p, s) {
			changed = append(changed, f.Attribute)
		}
	}
	return changed
}

// templateDigestValue is a digest attribute's value in a plan or state as the digest
// sees it; false when the model has no such attribute.
func templateDigestValue(ctx context.Context, m workshopTemplateModel, f workshop.DigestField, rules workshop.DigestRules) (attr.Value, bool) {
	v, ok := modelAttribute(m, f.Attribute)
	if !ok {
		return nil, false
	}
	if f.Location != "" && rules == workshop.RulesContent {
		var steps []string
		if f.Location != workshop.WholeValue {
			steps = strings.Split(f.Location, ".")
		}
		v = withNullAt(ctx, v, steps)
	}
	// Empty and null (a state from before the attribute, or no block) hash alike.
	switch c := v.(type) {
	case types.List:
		if !c.IsUnknown() && len(c.Elements()) == 0 {
			v = types.ListNull(c.ElementType(ctx))
		}
	case types.Map:
		if !c.IsUnknown() && len(c.Elements()) == 0 {
			v = types.MapNull(c.ElementType(ctx))
		}
	}
	// A default and null (a state from before the attribute) hash alike: as unset.
	if s, isString := v.(types.String); isString && f.Default != "" && (s.IsNull() || (!s.IsUnknown() && s.ValueString() == f.Default)) {
		v = types.StringValue("")
	}
	return v, true
}

// modelAttribute is the model's field for a schema attribute (by its tfsdk tag).
func modelAttribute(m workshopTemplateModel, name string) (attr.Value, bool) {
	rv := reflect.ValueOf(m)
	for i := range rv.NumField() {
		if rv.Type().Field(i).Tag.Get("tfsdk") == name {
			v, ok := rv.Field(i).Interface().(attr.Value)
			return v, ok
		}
	}
	return nil, false
}

// withNullAt is v with the nested attribute at steps set to null; v itself when an
// object on the way is null or unknown.
func withNullAt(ctx context.Context, v attr.Value, steps []string) attr.Value {
	if len(steps) == 0 {
		null, err := v.Type(ctx).ValueFromTerraform(ctx, tftypes.NewValue(v.Type(ctx).TerraformType(ctx), nil))
		if err != nil {
			return v
		}
		return null
	}
	obj, ok := v.(basetypes.ObjectValue)
	if !ok || obj.IsNull() || obj.IsUnknown() {
		return v
	}
	attrs := obj.Attributes()
	inner, ok := attrs[steps[0]]
	if !ok {
		return v
	}
	out := make(map[string]attr.Value, len(attrs))
	for k, a := range attrs {
		out[k] = a
	}
	out[steps[0]] = withNullAt(ctx, inner, steps[1:])
	res, d := types.ObjectValue(obj.AttributeTypes(ctx), out)
	if d.HasError() {
		return v
	}
	return res
}
