package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

func TestAccExec(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("exec")
	participant := acctest.RandName("alan")
	base := dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, participant)
	withExec := func(body string) string {
		return base + `
resource "nalabo_exec" "e" {
  session_id = nalabo_workshop_session.s.id
` + body + `
}
`
	}
	const addr = "nalabo_exec.e"
	argv := `  command  = ["sh", "-c", "echo out; echo err >&2"]`
	var execID string
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: withExec(argv + "\n  triggers = { v = \"1\" }"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr(addr, "id", regexp.MustCompile(`^[0-9a-f]{16}$`)),
					resource.TestCheckResourceAttr(addr, "stdout", "out\n"),
					resource.TestCheckResourceAttr(addr, "stderr", "err\n"),
					resource.TestCheckResourceAttr(addr, "exit_code", "0"),
					resource.TestCheckResourceAttr(addr, "stdout_truncated", "false"),
					resource.TestCheckResourceAttr(addr, "timed_out", "false"),
					resource.TestCheckResourceAttr(addr, "timeout", "30s"),
					resource.TestCheckResourceAttr(addr, "expected_exit_code", "0"),
					resource.TestCheckResourceAttr(addr, "max_output_bytes", "65536"),
					resource.TestCheckResourceAttrSet(addr, "duration_ms"),
					captureAttr(addr, "id", &execID),
				),
			},
			{
				// A changed trigger runs it again.
				Config: withExec(argv + "\n  triggers = { v = \"2\" }"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate)},
				},
				Check: checkAttrChanged(addr, "id", &execID),
			},
			{
				// A script with env, working dir and user; an expected non-zero exit.
				Config: withExec(`
  script             = "echo \"$GREETING from $(pwd) as $(id -u)\"; exit 3"
  env                = { GREETING = "hi" }
  working_dir        = "/tmp"
  user               = "1000"
  expected_exit_code = 3
`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "stdout", "hi from /tmp as 1000\n"),
					resource.TestCheckResourceAttr(addr, "exit_code", "3"),
				),
			},
			{
				// Bounded output.
				Config: withExec(`
  script           = "i=0; while [ $i -lt 200 ]; do echo 0123456789; i=$((i+1)); done"
  max_output_bytes = 100
`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "stdout_truncated", "true"),
					resource.TestMatchResourceAttr(addr, "stdout", regexp.MustCompile(`^(0123456789\n){9}0$`)),
				),
			},
			{
				// A non-zero exit fails the apply with the exit code and the output.
				Config:      withExec(`  script = "echo partial; echo something broke >&2; exit 7"`),
				ExpectError: regexp.MustCompile(`(?s)Command\s+exited\s+with\s+code\s+7.*partial.*something\s+broke`),
			},
			{
				// A command that outlives its timeout is killed and fails the apply.
				Config:      withExec(`  command = ["sleep", "30"]` + "\n" + `  timeout = "2s"`),
				ExpectError: regexp.MustCompile(`Command\s+timed\s+out\s+after\s+2s`),
			},
			{
				// A session that does not exist.
				Config: base + `
resource "nalabo_exec" "e" {
  session_id = "0000000000"
  command    = ["true"]
}
`,
				ExpectError: regexp.MustCompile(`(?s)Session\s+not\s+found.*0000000000`),
			},
		},
	})
}
