package provider

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// validateResource runs ValidateResourceConfig through the provider's protocol server,
// the call Terraform makes at plan time, with a JSON configuration (unset attributes
// are null), and returns its diagnostics.
func validateResource(t *testing.T, typeName string, config map[string]any) []*tfprotov6.Diagnostic {
	t.Helper()
	srv, err := testAccProtoV6ProviderFactories["nalabo"]()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{
		TypeName: typeName, Config: &tfprotov6.DynamicValue{JSON: raw},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Diagnostics
}

func diagsOf(diags []*tfprotov6.Diagnostic, sev tfprotov6.DiagnosticSeverity) []string {
	var out []string
	for _, d := range diags {
		if d.Severity == sev {
			out = append(out, d.Summary+": "+d.Detail)
		}
	}
	return out
}

// TestComposeKeysSaidOrRefused: at plan time, a Compose key the provider does not apply
// is a warning naming the service and the key (the plan goes on); a key that weakens
// isolation is an error. The same for nalabo_apply. Positive control: applied keys only,
// no diagnostic at all.
func TestComposeKeysSaidOrRefused(t *testing.T) {
	dir := t.TempDir()
	template := func(compose string) map[string]any {
		return map[string]any{
			"name": "keys", "infrastructure_type": "docker", "workspace": map[string]any{"image": "x"},
			"compose": compose, "compose_directory": dir,
		}
	}
	apply := func(compose string) map[string]any {
		return map[string]any{"session_id": "abcd1234", "type": "compose", "configuration": compose, "context": dir}
	}
	for _, tc := range []struct {
		typeName string
		config   func(string) map[string]any
	}{{"nalabo_workshop_template", template}, {"nalabo_apply", apply}} {
		t.Run(tc.typeName, func(t *testing.T) {
			diags := validateResource(t, tc.typeName, tc.config("services:\n  web:\n    image: x\n    shm_size: 1g\n    extra_hosts: ['h:203.0.113.7']\n"))
			w := strings.Join(diagsOf(diags, tfprotov6.DiagnosticSeverityWarning), "\n")
			if e := diagsOf(diags, tfprotov6.DiagnosticSeverityError); len(e) > 0 {
				t.Fatalf("shm_size: errors %v", e)
			}
			for _, want := range []string{`service "web": shm_size is not applied`, `service "web": extra_hosts is not applied`} {
				if !strings.Contains(w, want) {
					t.Errorf("no warning %q in:\n%s", want, w)
				}
			}
			for _, line := range []string{"privileged: true", "pids_limit: -1", "oom_kill_disable: true", "ulimits: {nproc: 100000}"} {
				diags := validateResource(t, tc.typeName, tc.config("services:\n  web:\n    image: x\n    "+line+"\n"))
				e := strings.Join(diagsOf(diags, tfprotov6.DiagnosticSeverityError), "\n")
				key := strings.SplitN(line, ":", 2)[0]
				if !strings.Contains(e, `service "web"`) || !strings.Contains(e, key) {
					t.Errorf("%s: errors %q", line, e)
				}
			}
			if diags := validateResource(t, tc.typeName, tc.config("services:\n  web:\n    image: x\n    command: [sleep, infinity]\n    environment: {A: b}\n")); len(diags) != 0 {
				t.Errorf("positive control: applied keys only, diagnostics %v", diagsOf(diags, tfprotov6.DiagnosticSeverityWarning))
			}
		})
	}
}
