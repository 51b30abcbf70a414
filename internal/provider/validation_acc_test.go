package provider

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccValidation_badInputs: every kind of bad input is a plan-time error that names
// its attribute. No Docker engine is needed: nothing gets applied.
func TestAccValidation_badInputs(t *testing.T) {
	testAccSetup(t)
	const fakeTemplateID = "docker.demo.0123456789ab"
	template := func(name, infra, workspace, extra string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = %q
  workspace %s
%s
}
`, name, infra, workspace, extra)
	}
	goodTemplate := func(extra string) string {
		return template("demo", "docker", `{ image = "nalabo-test/shell:1" }`, extra)
	}
	session := func(participant, extra string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = %q
  participant = %q
%s
}
`, fakeTemplateID, participant, extra)
	}
	cases := []struct {
		name   string
		config string
		want   string
	}{
		{"cpu", session("ada", `  resources = { cpu = "abc" }`), `(?s)Invalid CPU quantity.*resources\["cpu"\].*"abc"`},
		{"cpu below minimum", session("ada", `  resources = { cpu = "1m" }`), `(?s)Invalid CPU quantity.*resources\["cpu"\]`},
		{"memory suffix", session("ada", `  resources = { memory = "2Gm" }`), `(?s)Invalid memory quantity.*resources\["memory"\].*"2Gm"`},
		{"memory negative", session("ada", `  resources = { memory = "-1" }`), `(?s)Invalid memory quantity.*resources\["memory"\].*"-1"`},
		{"storage", session("ada", `  resources = { storage = "lots" }`), `(?s)Invalid storage quantity.*resources\["storage"\]`},
		{"session duration", session("ada", `  duration = "4 hours"`), `(?s)Invalid duration.*duration.*"4 hours"`},
		{"participant", session("ada lovelace", ""), `(?s)Invalid participant.*participant.*"ada lovelace"`},
		{"state typo", session("ada", `  state = "stoped"`), `(?s)state.*value must be one of.*"stoped"`},
		{"persistence size", session("ada", `  persistence = { size = "big" }`), `(?s)Invalid storage quantity.*persistence\.size.*"big"`},
		{"persistence retain_days", session("ada", `  persistence = { size = "1Gi", retain_days = 400 }`), `(?s)persistence\.retain_days.*between 0 and 365`},
		{"stopped without persistence", session("ada", `  state = "stopped"`), `(?s)without persistence cannot be stopped.*state`},
		{"persistence on swarm", `
resource "nalabo_workshop_session" "s" {
  template_id = "swarm.demo.0123456789ab"
  participant = "ada"
  persistence = { size = "1Gi" }
}
`, `(?s)not available on Swarm.*persistence`},
		{"template id", `
resource "nalabo_workshop_session" "s" {
  template_id = "nonsense"
  participant = "ada"
}
`, `(?s)Invalid template ID.*template_id`},
		{"template name", template("Bad_Name", "docker", `{ image = "nalabo-test/shell:1" }`, ""), `(?s)Invalid template name.*name.*"Bad_Name"`},
		{"infrastructure type", template("demo", "nomad", `{ image = "nalabo-test/shell:1" }`, ""), `(?s)infrastructure_type.*value must be one of`},
		{"image and build", template("demo", "docker", `{
    image = "nalabo-test/shell:1"
    build { context = "." }
  }`, ""), `(?s)Invalid Attribute Combination.*workspace\.build`},
		{"neither image nor build", template("demo", "docker", `{ command = ["sleep", "1"] }`, ""), `(?s)Invalid Attribute Combination.*workspace\.build`},
		{"isolation on docker", goodTemplate(`  isolation = "namespace"`), `(?s)kubernetes templates only.*isolation`},
		{"pod_security on docker", goodTemplate(`  pod_security = "restricted"`), `(?s)kubernetes templates only.*pod_security`},
		{"isolation value", template("demo", "kubernetes", `{ image = "nalabo-test/shell:1" }`, `  isolation = "vm"`), `(?s)isolation.*value must be one of`},
		{"compose unknown key", goodTemplate(`  compose = "services:\n  web:\n    image: nalabo-test/shell:1\n    bogus: 1\n"`), `(?s)Invalid Compose file.*service "web": unknown key "bogus"`},
		{"template duration", goodTemplate(`  duration = "4 hours"`), `(?s)Invalid duration.*duration`},
		{"template cpu", goodTemplate(`  resources = { cpu = "abc" }`), `(?s)Invalid CPU quantity.*resources\["cpu"\]`},
		{"port", template("demo", "docker", `{
    image = "nalabo-test/shell:1"
    ports = [0]
  }`, ""), `(?s)workspace\.ports.*between 1 and 65535`},
		{"output pattern", goodTemplate(`  validations = [{ name = "v", command = ["true"], output_pattern = "(" }]`), `(?s)Invalid regular expression.*output_pattern`},
		{"validation timeout", goodTemplate(`  validations = [{ name = "v", command = ["true"], timeout = "soon" }]`), `(?s)Invalid duration.*validations\[0\]\.timeout`},
		{"duplicate validation", goodTemplate(`  validations = [{ name = "v", command = ["true"] }, { name = "v", command = ["false"] }]`), `(?s)Duplicate validation name.*validations\[1\]\.name`},
		{"build context", template("demo", "docker", `{
    build {
      context = "/nonexistent/context"
    }
  }`, ""), `(?s)Invalid build context.*workspace\.build\.context`},
		{"exec command and script", `
resource "nalabo_exec" "e" {
  session_id = "0123456789"
  command    = ["true"]
  script     = "true"
}
`, `(?s)Invalid Attribute Combination.*command`},
		{"exec session id", `
resource "nalabo_exec" "e" {
  session_id = "Not An ID"
  command    = ["true"]
}
`, `(?s)Invalid session ID.*session_id`},
		{"exec timeout", `
resource "nalabo_exec" "e" {
  session_id = "0123456789"
  command    = ["true"]
  timeout    = "30 seconds"
}
`, `(?s)Invalid duration.*timeout`},
		{"exec max output", `
resource "nalabo_exec" "e" {
  session_id       = "0123456789"
  command          = ["true"]
  max_output_bytes = 0
}
`, `(?s)max_output_bytes.*between 1 and 1048576`},
	}
	steps := make([]resource.TestStep, 0, len(cases))
	for _, c := range cases {
		steps = append(steps, resource.TestStep{
			Config:   c.config,
			PlanOnly: true,
			// Terraform wraps diagnostics at 78 columns: a space may be a line break.
			ExpectError: regexp.MustCompile(strings.ReplaceAll(c.want, " ", `\s+`)),
		})
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    steps,
	})
}
