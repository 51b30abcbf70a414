package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// gradedSessionConfig is a template with a check that passes ("greets") and one that
// fails until /workspace/answer exists ("has-answer"), one session, and extra HCL.
func gradedSessionConfig(name, participant, extra string) string {
	return dockerTemplateConfig("t", name, acctest.ShellImage1, `
  validations = [
    { name = "greets", command = ["sh", "-c", "echo hello"], output_pattern = "^hello" },
    { name = "has-answer", command = ["sh", "-c", "cat /workspace/answer"], expected_exit_code = 0, timeout = "10s" },
  ]`) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
%s`, participant, extra)
}

// TestAccSessionValidationDataSource: a passing and a failing check are reported as
// such (exit code, output, reason); once the participant's work is done the failing
// check passes; checks selects; an unknown check name is an error naming `checks`; a
// check block can grade.
func TestAccSessionValidationDataSource(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("grade")
	participant := acctest.RandName("ada")
	const addr = "data.nalabo_session_validation.v"
	dataSource := func(extra string) string {
		return fmt.Sprintf(`
data "nalabo_session_validation" "v" {
  session_id = nalabo_workshop_session.s.id
%s
}
`, extra)
	}
	answer := `
resource "nalabo_exec" "answer" {
  session_id = nalabo_workshop_session.s.id
  script     = "echo 42 > /workspace/answer"
}
`
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: gradedSessionConfig(name, participant, dataSource("")),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair(addr, "id", "nalabo_workshop_session.s", "id"),
					resource.TestCheckResourceAttrPair(addr, "template_id", "nalabo_workshop_template.t", "id"),
					resource.TestCheckResourceAttr(addr, "template_name", name),
					resource.TestCheckResourceAttr(addr, "participant", participant),
					resource.TestCheckResourceAttr(addr, "total", "2"),
					resource.TestCheckResourceAttr(addr, "passed", "1"),
					resource.TestCheckResourceAttr(addr, "failed", "1"),
					resource.TestCheckResourceAttr(addr, "all_passed", "false"),
					resource.TestCheckResourceAttr(addr, "passed_checks.0", "greets"),
					resource.TestCheckResourceAttr(addr, "failed_checks.0", "has-answer"),
					resource.TestCheckResourceAttr(addr, "results.0.name", "greets"),
					resource.TestCheckResourceAttr(addr, "results.0.passed", "true"),
					resource.TestCheckResourceAttr(addr, "results.0.exit_code", "0"),
					resource.TestCheckResourceAttr(addr, "results.0.output", "hello\n"),
					resource.TestCheckResourceAttr(addr, "results.0.output_pattern", "^hello"),
					resource.TestCheckNoResourceAttr(addr, "results.0.reason"),
					resource.TestMatchResourceAttr(addr, "results.0.duration_ms", regexp.MustCompile(`^\d+$`)),
					resource.TestMatchResourceAttr(addr, "results.0.duration", regexp.MustCompile(`s$`)),
					resource.TestCheckResourceAttr(addr, "results.1.name", "has-answer"),
					resource.TestCheckResourceAttr(addr, "results.1.passed", "false"),
					resource.TestCheckResourceAttr(addr, "results.1.exit_code", "1"),
					resource.TestCheckResourceAttr(addr, "results.1.reason", "exit code 1, expected 0"),
					resource.TestMatchResourceAttr(addr, "results.1.stderr", regexp.MustCompile(`answer`)),
					resource.TestCheckResourceAttr(addr, "results.1.timed_out", "false"),
				),
			},
			{
				// The participant did the work: the data source (read after the exec)
				// grades it, and a check block asserts on it.
				Config: gradedSessionConfig(name, participant, answer+dataSource(`  depends_on = [nalabo_exec.answer]`)+`
check "graded" {
  assert {
    condition     = data.nalabo_session_validation.v.all_passed
    error_message = "not every check passed"
  }
}
`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "passed", "2"),
					resource.TestCheckResourceAttr(addr, "failed", "0"),
					resource.TestCheckResourceAttr(addr, "all_passed", "true"),
					resource.TestCheckResourceAttr(addr, "results.1.output", "42\n"),
					resource.TestCheckResourceAttr(addr, "failed_checks.#", "0"),
				),
			},
			{
				Config: gradedSessionConfig(name, participant, answer+dataSource(`  checks = ["has-answer"]`)),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "total", "1"),
					resource.TestCheckResourceAttr(addr, "results.0.name", "has-answer"),
					resource.TestCheckResourceAttr(addr, "results.0.passed", "true"),
				),
			},
			{
				Config:      gradedSessionConfig(name, participant, answer+dataSource(`  checks = ["nope"]`)),
				ExpectError: regexp.MustCompile(`(?s)Unknown validation check.*no check "nope".*greets,\s+has-answer`),
			},
		},
	})
}

// TestAccSessionValidationDataSource_notFound: an unknown session is an error naming
// session_id.
func TestAccSessionValidationDataSource_notFound(t *testing.T) {
	testAccSetup(t)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: `
data "nalabo_session_validation" "v" {
  session_id = "0000000000"
}
`,
			ExpectError: regexp.MustCompile(`(?s)Session not found.*session_id.*"0000000000"`),
		}},
	})
}
