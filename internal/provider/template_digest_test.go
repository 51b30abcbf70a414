package provider

import (
	"context"
	"slices"
	"sort"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// notDigestShaping are the template attributes outside the digest: computed from it,
// or deliberately left out (a grading check or the instructions must not replace
// sessions; resources counts through effective_resources).
var notDigestShaping = []string{"id", "digest", "images", "validations", "instructions", "timeouts", "resources", "pre_pull", "warm_pool"}

// digestTableProblems checks the digest table against the template's schema and
// model: every digest attribute exists in both, and every schema attribute is either
// in the table or in notDigestShaping.
func digestTableProblems(t *testing.T, fields []workshop.DigestField) []string {
	t.Helper()
	s := schemaOf(t, &workshopTemplateResource{})
	var problems []string
	inTable := map[string]bool{}
	for _, f := range fields {
		if f.Attribute == "" {
			continue
		}
		inTable[f.Attribute] = true
		_, isAttr := s.Schema.Attributes[f.Attribute]
		if _, isBlock := s.Schema.Blocks[f.Attribute]; !isAttr && !isBlock {
			problems = append(problems, f.Attribute+": in the digest table, not in the schema")
		}
		if _, ok := modelAttribute(workshopTemplateModel{}, f.Attribute); !ok {
			problems = append(problems, f.Attribute+": in the digest table, not in workshopTemplateModel")
		}
	}
	var names []string
	for name := range s.Schema.Attributes {
		names = append(names, name)
	}
	for name := range s.Schema.Blocks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if inTable[name] == slices.Contains(notDigestShaping, name) {
			problems = append(problems, name+": must be in exactly one of workshop.DigestFields and notDigestShaping")
		}
	}
	return problems
}

func TestTemplateDigestTable(t *testing.T) {
	fields := workshop.DigestFields()
	if p := digestTableProblems(t, fields); len(p) > 0 {
		t.Errorf("digest table: %v", p)
	}
	// Positive control: an attribute left out of the table is reported.
	without := slices.DeleteFunc(slices.Clone(fields), func(f workshop.DigestField) bool { return f.Attribute == "egress" })
	if p := digestTableProblems(t, without); len(p) != 1 || p[0] != "egress: must be in exactly one of workshop.DigestFields and notDigestShaping" {
		t.Errorf("without egress: %v", p)
	}
}

// digestBaseModel is a docker template with a build and a Compose file, so that every
// digest attribute has a value to change.
func digestBaseModel(t *testing.T) workshopTemplateModel {
	t.Helper()
	m := templateModel(t, "t", "")
	m.Workspace = workspaceWithBuild(t, "/src/ctx", "abc")
	m.Compose = types.StringValue("services: {web: {image: nginx}}\n")
	m.ComposeDirectory = types.StringValue("/src/compose")
	m.ComposeBuilds = types.MapValueMust(types.StringType, map[string]attr.Value{"web": types.StringValue("d1")})
	m.EffectiveResources = resourcesModel{CPU: types.StringValue("1000m"), Memory: types.StringValue("2Gi"), Storage: types.StringValue("10Gi")}.object(nil)
	m.Egress = types.StringValue("restricted")
	return m
}

func workspaceWithBuild(t *testing.T, dir, sum string) types.Object {
	t.Helper()
	ctx := context.Background()
	b, d := types.ObjectValueFrom(ctx, buildAttrTypes, buildModel{Context: types.StringValue(dir), Dockerfile: types.StringNull(),
		Args: types.MapNull(types.StringType), ContextSHA256: types.StringValue(sum)})
	if d.HasError() {
		t.Fatal(d)
	}
	ws, d := types.ObjectValueFrom(ctx, workspaceAttrTypes, workspaceModel{
		Image: types.StringNull(), Build: b, Command: types.ListNull(types.StringType), Env: types.MapNull(types.StringType),
		User: types.StringNull(), WorkingDir: types.StringNull(), Ports: types.ListNull(types.Int64Type),
	})
	if d.HasError() {
		t.Fatal(d)
	}
	return ws
}

// TestChangedDigestAttributes: a change of each digest attribute names that attribute
// and nothing else, whatever the rules; a moved directory or the default egress named
// differently names nothing under the content rules.
func TestChangedDigestAttributes(t *testing.T) {
	ctx := context.Background()
	mutations := map[string]func(*workshopTemplateModel){
		"name":                func(m *workshopTemplateModel) { m.Name = types.StringValue("u") },
		"infrastructure_type": func(m *workshopTemplateModel) { m.InfrastructureType = types.StringValue("kubernetes") },
		"isolation":           func(m *workshopTemplateModel) { m.Isolation = types.StringValue("namespace") },
		"workspace":           func(m *workshopTemplateModel) { m.Workspace = workspaceWithBuild(t, "/src/ctx", "def") },
		"manifests":           func(m *workshopTemplateModel) { m.Manifests = types.StringValue("x") },
		"compose":             func(m *workshopTemplateModel) { m.Compose = types.StringValue("services: {}\n") },
		"effective_resources": func(m *workshopTemplateModel) {
			m.EffectiveResources = resourcesModel{CPU: types.StringValue("500m"), Memory: types.StringValue("2Gi"), Storage: types.StringValue("10Gi")}.object(nil)
		},
		"duration":         func(m *workshopTemplateModel) { m.Duration = types.StringValue("3h") },
		"pod_security":     func(m *workshopTemplateModel) { m.PodSecurity = types.StringValue("baseline") },
		"docker_in_docker": func(m *workshopTemplateModel) { m.DockerInDocker = types.BoolValue(true) },
		"compose_builds": func(m *workshopTemplateModel) {
			m.ComposeBuilds = types.MapValueMust(types.StringType, map[string]attr.Value{"web": types.StringValue("d2")})
		},
		"vcluster_values": func(m *workshopTemplateModel) { m.VClusterValues = types.StringValue("x: 1\n") },
		"egress":          func(m *workshopTemplateModel) { m.Egress = types.StringValue("open") },
		"placement_constraints": func(m *workshopTemplateModel) {
			m.PlacementConstraints = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("node.role==worker")})
		},
		"node_selector": func(m *workshopTemplateModel) {
			m.NodeSelector = types.MapValueMust(types.StringType, map[string]attr.Value{"gpu": types.StringValue("l4")})
		},
		"runtime_class_name": func(m *workshopTemplateModel) { m.RuntimeClassName = types.StringValue("nvidia") },
		"toleration": func(m *workshopTemplateModel) {
			m.Tolerations = types.ListValueMust(types.ObjectType{AttrTypes: tolerationAttrTypes}, []attr.Value{
				types.ObjectValueMust(tolerationAttrTypes, map[string]attr.Value{
					"key": types.StringValue("nvidia.com/gpu"), "operator": types.StringValue("Exists"), "value": types.StringNull(),
					"effect": types.StringNull(), "toleration_seconds": types.Int64Null(),
				})})
		},
	}
	// Location-only changes: named under the legacy rules only.
	locations := map[string]func(*workshopTemplateModel){
		"workspace":         func(m *workshopTemplateModel) { m.Workspace = workspaceWithBuild(t, "/moved/ctx", "abc") },
		"compose_directory": func(m *workshopTemplateModel) { m.ComposeDirectory = types.StringValue("/moved/compose") },
	}
	for _, f := range workshop.DigestFields() {
		if f.Attribute != "" && mutations[f.Attribute] == nil && locations[f.Attribute] == nil {
			t.Errorf("no test change for digest attribute %s", f.Attribute)
		}
	}
	state := digestBaseModel(t)
	for _, rules := range []workshop.DigestRules{workshop.RulesLegacy, workshop.RulesContent} {
		if got := changedDigestAttributes(ctx, state, state, rules); len(got) != 0 {
			t.Errorf("rules %d: unchanged plan names %v", rules, got)
		}
		for name, mutate := range mutations {
			plan := digestBaseModel(t)
			mutate(&plan)
			if got := changedDigestAttributes(ctx, plan, state, rules); !slices.Equal(got, []string{name}) {
				t.Errorf("rules %d: changing %s names %v", rules, name, got)
			}
		}
		for name, mutate := range locations {
			plan := digestBaseModel(t)
			mutate(&plan)
			want := []string{name}
			if rules == workshop.RulesContent {
				want = nil
			}
			if got := changedDigestAttributes(ctx, plan, state, rules); !slices.Equal(got, want) {
				t.Errorf("rules %d: moving %s names %v, want %v", rules, name, got, want)
			}
		}
		// A state from before egress existed holds null: the same as the default.
		plan := digestBaseModel(t)
		old := digestBaseModel(t)
		old.Egress = types.StringNull()
		if got := changedDigestAttributes(ctx, plan, old, rules); len(got) != 0 {
			t.Errorf("rules %d: egress null -> restricted names %v", rules, got)
		}
		// A state from before the scheduling settings existed holds null: the same as
		// no toleration block (an empty list) and no node_selector.
		old = digestBaseModel(t)
		old.Tolerations = types.ListNull(types.ObjectType{AttrTypes: tolerationAttrTypes})
		plan.NodeSelector = types.MapValueMust(types.StringType, map[string]attr.Value{})
		if got := changedDigestAttributes(ctx, plan, old, rules); len(got) != 0 {
			t.Errorf("rules %d: toleration null -> [] names %v", rules, got)
		}
		plan.NodeSelector = types.MapNull(types.StringType)
		// Outside the digest.
		plan.Instructions = types.StringValue("read me")
		if got := changedDigestAttributes(ctx, plan, state, rules); len(got) != 0 {
			t.Errorf("rules %d: instructions name %v", rules, got)
		}
	}
}
