package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	fwpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const testChartValues = "controlPlane:\n  statefulSet:\n    annotations: {x: y}\n"

// validateTemplate runs the template's ValidateConfig.
func validateTemplate(t *testing.T, config workshopTemplateModel) diag.Diagnostics {
	t.Helper()
	r := &workshopTemplateResource{}
	s := schemaOf(t, r)
	var resp resource.ValidateConfigResponse
	r.ValidateConfig(context.Background(), resource.ValidateConfigRequest{Config: tfsdk.Config{Schema: s.Schema, Raw: rawOf(t, s, &config)}}, &resp)
	return resp.Diagnostics
}

func TestTemplateVClusterValuesValidation(t *testing.T) {
	k8s := templateModel(t, "vc", "shell:1")
	k8s.InfrastructureType = types.StringValue("kubernetes")
	k8s.DockerInDocker = types.BoolNull()
	k8s.VClusterValues = types.StringValue(testChartValues)
	if d := validateTemplate(t, k8s); d.HasError() {
		t.Errorf("kubernetes, default isolation: %v", d)
	}
	vc := k8s
	vc.Isolation = types.StringValue("vcluster")
	if d := validateTemplate(t, vc); d.HasError() {
		t.Errorf("kubernetes, vcluster: %v", d)
	}

	for name, m := range map[string]workshopTemplateModel{
		"namespace isolation": func() workshopTemplateModel { m := k8s; m.Isolation = types.StringValue("namespace"); return m }(),
		"docker": func() workshopTemplateModel {
			m := templateModel(t, "d", "shell:1")
			m.VClusterValues = types.StringValue(testChartValues)
			return m
		}(),
	} {
		d := validateTemplate(t, m)
		if !d.HasError() {
			t.Errorf("%s: accepted", name)
			continue
		}
		e, ok := d.Errors()[0].(diag.DiagnosticWithPath)
		if !ok || e.Path().String() != "vcluster_values" || !strings.Contains(e.Detail(), "vcluster_values") {
			t.Errorf("%s: diagnostic does not name vcluster_values: %v", name, d)
		}
	}

	// The attribute's validator: a mapping.
	ctx := context.Background()
	check := func(v string) diag.Diagnostics {
		var resp validator.StringResponse
		chartValues().ValidateString(ctx, validator.StringRequest{Path: fwpath.Root("vcluster_values"), ConfigValue: types.StringValue(v)}, &resp)
		return resp.Diagnostics
	}
	if d := check(testChartValues); d.HasError() {
		t.Errorf("a mapping rejected: %v", d)
	}
	for bad, want := range map[string]string{"- a\n- b\n": "got a list", "controlPlane: [": "not valid YAML"} {
		d := check(bad)
		if !d.HasError() || !strings.HasPrefix(d[0].Detail(), "vcluster_values: ") || !strings.Contains(d[0].Detail(), want) {
			t.Errorf("%q: %v, want a diagnostic on vcluster_values with %q", bad, d, want)
		}
	}
}

func TestTemplateVClusterValuesPlan(t *testing.T) {
	ctx := context.Background()
	f := newFakeBackend()
	config := templateModel(t, "vc", "shell:1")
	config.InfrastructureType = types.StringValue("kubernetes")
	config.VClusterValues = types.StringValue(testChartValues)
	plan, _ := planTemplate(t, config, nil)
	state := applyKubernetesTemplate(t, f, plan)
	stored, err := f.GetTemplate(ctx, state.ID.ValueString())
	if err != nil || stored.VClusterValues != testChartValues {
		t.Fatalf("stored template: %v %+v", err, stored)
	}
	// Read back: unchanged.
	if m := templateModelFrom(ctx, stored, &state, nd()); !m.VClusterValues.Equal(state.VClusterValues) {
		t.Errorf("read back %s", m.VClusterValues)
	}
	same, _ := planTemplate(t, config, &state)
	if !same.ID.Equal(state.ID) {
		t.Errorf("unchanged values planned a new id")
	}
	changed := config
	changed.VClusterValues = types.StringValue("controlPlane: {statefulSet: {annotations: {x: z}}}")
	p, _ := planTemplate(t, changed, &state)
	if !p.ID.IsUnknown() || !p.Digest.IsUnknown() {
		t.Errorf("a vcluster_values change kept the id %s", p.ID)
	}
	if got := changedDigestAttributes(context.Background(), p, state, workshop.RulesContent); len(got) != 1 || got[0] != "vcluster_values" {
		t.Errorf("changed attributes %v", got)
	}
}

// applyKubernetesTemplate creates a template through the resource with the fake
// backend serving as the Kubernetes backend.
func applyKubernetesTemplate(t *testing.T, f *fakeBackend, plan workshopTemplateModel) workshopTemplateModel {
	t.Helper()
	ctx := context.Background()
	r := &workshopTemplateResource{data: &providerData{
		kubernetes:           newLazyBackend("kubernetes", func() (backendImpl, error) { return f, nil }, "fake://kubernetes"),
		kubernetesConfigured: true,
	}}
	s := schemaOf(t, r)
	resp := resource.CreateResponse{State: tfsdk.State{Schema: s.Schema, Raw: rawOf(t, s, nil)}}
	r.Create(ctx, resource.CreateRequest{Plan: tfsdk.Plan{Schema: s.Schema, Raw: rawOf(t, s, &plan)}}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("create: %v", resp.Diagnostics)
	}
	var out workshopTemplateModel
	if d := resp.State.Get(ctx, &out); d.HasError() {
		t.Fatal(d)
	}
	return out
}
