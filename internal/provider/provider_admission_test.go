package provider

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// validateProviderConfig runs the provider's validation (schema validators included)
// over a configuration with the given top-level attributes and docker and kubernetes
// overcommit objects (nil: null), and returns the error diagnostics.
func validateProviderConfig(t *testing.T, top map[string]tftypes.Value, dockerOC, k8sOC map[string]tftypes.Value) []*tfprotov6.Diagnostic {
	t.Helper()
	ctx := context.Background()
	p := newTestProvider()
	var sr provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &sr)
	typ := acctest.As[tftypes.Object](t, sr.Schema.Type().TerraformType(ctx))
	null := func(ot tftypes.Object, set map[string]tftypes.Value) tftypes.Value {
		vals := map[string]tftypes.Value{}
		for name, at := range ot.AttributeTypes {
			if v, ok := set[name]; ok {
				vals[name] = v
			} else {
				vals[name] = tftypes.NewValue(at, nil)
			}
		}
		return tftypes.NewValue(ot, vals)
	}
	block := func(name string, oc map[string]tftypes.Value) {
		if oc == nil {
			return
		}
		bt := acctest.As[tftypes.Object](t, typ.AttributeTypes[name])
		ot := acctest.As[tftypes.Object](t, bt.AttributeTypes["overcommit"])
		if top == nil {
			top = map[string]tftypes.Value{}
		}
		set := map[string]tftypes.Value{"overcommit": null(ot, oc)}
		if name == "kubernetes" {
			kc := filepath.Join(t.TempDir(), "kubeconfig") // checked to exist, never dialled: validation only
			if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			set["config_path"] = tftypes.NewValue(tftypes.String, kc)
		}
		top[name] = null(bt, set)
	}
	block("docker", dockerOC)
	block("kubernetes", k8sOC)
	cfg, err := tfprotov6.NewDynamicValue(typ, null(typ, top))
	if err != nil {
		t.Fatal(err)
	}
	srv := providerserver.NewProtocol6(p)()
	resp, err := srv.ValidateProviderConfig(ctx, &tfprotov6.ValidateProviderConfigRequest{Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	var errs []*tfprotov6.Diagnostic
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			errs = append(errs, d)
		}
	}
	return errs
}

func TestAdmissionSettingsValidation(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("K8S_ENDPOINT", "")
	num := func(f float64) tftypes.Value { return tftypes.NewValue(tftypes.Number, f) }
	cases := []struct {
		name             string
		top              map[string]tftypes.Value
		docker, k8s      map[string]tftypes.Value
		wantPath, wantIn string // "" wants no error
	}{
		{name: "valid", top: map[string]tftypes.Value{"max_sessions": num(30)},
			docker: map[string]tftypes.Value{"cpu": num(4), "memory": num(1)}, k8s: map[string]tftypes.Value{"cpu": num(1.5)}},
		{name: "max_sessions 0", top: map[string]tftypes.Value{"max_sessions": num(0)},
			wantPath: "max_sessions", wantIn: "value must be at least 1, got: 0"},
		{name: "docker cpu below 1", docker: map[string]tftypes.Value{"cpu": num(0.5)},
			wantPath: "docker.overcommit.cpu", wantIn: "must be at least 1.000000, got: 0.500000"},
		{name: "kubernetes memory below 1", k8s: map[string]tftypes.Value{"memory": num(0.9)},
			wantPath: "kubernetes.overcommit.memory", wantIn: "must be at least 1.000000, got: 0.900000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := validateProviderConfig(t, c.top, c.docker, c.k8s)
			if c.wantPath == "" {
				if len(errs) > 0 {
					t.Fatalf("valid settings refused: %s: %s", errs[0].Summary, errs[0].Detail)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want one error, got %d: %+v", len(errs), errs)
			}
			e := errs[0]
			if got := attrPathString(e.Attribute); got != c.wantPath || !strings.Contains(e.Detail, c.wantPath) || !strings.Contains(e.Detail, c.wantIn) {
				t.Errorf("error at %s: %s: %s; want it at %s saying %q", got, e.Summary, e.Detail, c.wantPath, c.wantIn)
			}
		})
	}
}

// attrPathString renders a protocol attribute path as "docker.overcommit.cpu".
func attrPathString(p *tftypes.AttributePath) string {
	if p == nil {
		return ""
	}
	var parts []string
	for _, s := range p.Steps() {
		if n, ok := s.(tftypes.AttributeName); ok {
			parts = append(parts, string(n))
		}
	}
	return strings.Join(parts, ".")
}
