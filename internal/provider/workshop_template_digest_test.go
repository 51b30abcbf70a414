package provider

import (
	"context"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// The plan's digest table and workshop.SealTemplate's input name the same fields: a
// field hashed but not compared would change a template's ID behind a plan that
// promised to keep it.
func TestDigestAttributesMatchSealTemplate(t *testing.T) {
	var want []string
	for _, f := range workshop.DigestFields() {
		switch f {
		case "images", "rules": // computed by the apply, not configuration
		case "resources":
			want = append(want, "effective_resources") // the defaults filled in
		default:
			want = append(want, f)
		}
	}
	var got []string
	for _, a := range digestAttributes {
		got = append(got, a.name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("digest attributes %v, SealTemplate hashes %v", got, want)
	}
	// Every name is an attribute (or block) of the template's schema.
	var sr resource.SchemaResponse
	NewWorkshopTemplateResource().Schema(context.Background(), resource.SchemaRequest{}, &sr)
	for _, a := range digestAttributes {
		_, attribute := sr.Schema.Attributes[a.name]
		if _, block := sr.Schema.Blocks[a.name]; !attribute && !block {
			t.Errorf("%s is not an attribute of nalabo_workshop_template", a.name)
		}
	}
}

// Each entry reads its own attribute: changing that one attribute reports that name
// alone.
func TestChangedDigestAttributesOnePerAttribute(t *testing.T) {
	ctx := context.Background()
	base := workshopTemplateModel{Name: types.StringValue("t"), InfrastructureType: types.StringValue("docker"),
		ComposeBuilds: types.MapNull(types.StringType)}
	changes := map[string]func(m *workshopTemplateModel){
		"name":             func(m *workshopTemplateModel) { m.Name = types.StringValue("u") },
		"manifests":        func(m *workshopTemplateModel) { m.Manifests = types.StringValue("x") },
		"duration":         func(m *workshopTemplateModel) { m.Duration = types.StringValue("2h") },
		"docker_in_docker": func(m *workshopTemplateModel) { m.DockerInDocker = types.BoolValue(true) },
		"vcluster_values":  func(m *workshopTemplateModel) { m.VClusterValues = types.StringValue("a: b") },
		"egress":           func(m *workshopTemplateModel) { m.Egress = types.StringValue("open") },
	}
	for name, change := range changes {
		p := base
		change(&p)
		if got := changedDigestAttributes(ctx, p, base, workshop.RulesContent); !slices.Equal(got, []string{name}) {
			t.Errorf("changing %s reports %v", name, got)
		}
	}
	// Restricted egress is the digest's default: no change.
	p := base
	p.Egress = types.StringValue(string(workshop.EgressRestricted))
	if got := changedDigestAttributes(ctx, p, base, workshop.RulesContent); len(got) != 0 {
		t.Errorf("restricted egress vs null: %v", got)
	}
}
