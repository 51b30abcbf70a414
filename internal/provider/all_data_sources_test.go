package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestDataSourceSchemas: every data source is registered, its schema is valid, and it
// and every attribute have a MarkdownDescription.
func TestDataSourceSchemas(t *testing.T) {
	ctx := context.Background()
	p := newTestProvider()
	want := map[string]bool{"nalabo_infrastructure": false, "nalabo_workshop_session": false, "nalabo_session_validation": false}
	for _, f := range p.DataSources(ctx) {
		d := f()
		var meta datasource.MetadataResponse
		d.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: "nalabo"}, &meta)
		want[meta.TypeName] = true
		var resp datasource.SchemaResponse
		d.Schema(ctx, datasource.SchemaRequest{}, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatalf("%s: %v", meta.TypeName, resp.Diagnostics)
		}
		s := resp.Schema
		if diags := s.ValidateImplementation(ctx); diags.HasError() {
			t.Errorf("%s: %v", meta.TypeName, diags)
		}
		if s.MarkdownDescription == "" {
			t.Errorf("%s has no MarkdownDescription", meta.TypeName)
		}
		var walk func(prefix string, attrs map[string]schema.Attribute)
		walk = func(prefix string, attrs map[string]schema.Attribute) {
			for name, a := range attrs {
				if a.GetMarkdownDescription() == "" {
					t.Errorf("%s: attribute %s%s has no MarkdownDescription", meta.TypeName, prefix, name)
				}
				switch n := a.(type) {
				case schema.SingleNestedAttribute:
					walk(prefix+name+".", n.Attributes)
				case schema.ListNestedAttribute:
					walk(prefix+name+"[].", n.NestedObject.Attributes)
				case schema.MapNestedAttribute:
					walk(prefix+name+"{}.", n.NestedObject.Attributes)
				}
			}
		}
		walk("", s.Attributes)
		if len(s.Blocks) > 0 {
			t.Errorf("%s uses blocks; nested attributes only", meta.TypeName)
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("data source %s is not registered", name)
		}
	}
}

func TestSelectChecks(t *testing.T) {
	ctx := context.Background()
	tmpl := &workshop.Template{Name: "intro", Validations: []workshop.Validation{{Name: "a"}, {Name: "b"}, {Name: "c"}}}
	var diags diag.Diagnostics
	all, ok := selectChecks(ctx, tmpl, types.ListNull(types.StringType), &diags)
	if !ok || len(all) != 3 {
		t.Fatalf("unset: %v %v", all, diags)
	}
	list, _ := types.ListValueFrom(ctx, types.StringType, []string{"c", "a"})
	some, ok := selectChecks(ctx, tmpl, list, &diags)
	if !ok || len(some) != 2 || some[0].Name != "c" || some[1].Name != "a" {
		t.Fatalf("c, a: %v %v", some, diags)
	}
	bad, _ := types.ListValueFrom(ctx, types.StringType, []string{"a", "zz"})
	if _, ok := selectChecks(ctx, tmpl, bad, &diags); ok || !diags.HasError() {
		t.Fatal("an unknown check must be an error")
	}
	if got := diags.Errors()[0].Detail(); got != `The template intro has no check "zz". Its checks: a, b, c.` {
		t.Fatalf("detail: %s", got)
	}
}
