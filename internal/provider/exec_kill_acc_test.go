package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// TestAccExecTimeoutKill: a command that outlives its timeout fails the apply with an
// error naming what was killed, and nothing of it is left running in the workspace; a
// validation check that times out says the same in its reason.
func TestAccExecTimeoutKill(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("execkill")
	participant := acctest.RandName("kim")
	base := dockerTemplateConfig("t", name, acctest.ShellImage1, `
  validations = [
    { name = "hangs", command = ["sh", "-c", "sleep 310 & sleep 311"], timeout = "2s" },
  ]`) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, participant)
	// The probe starts a sleep of its own first: seeing it proves ps and the pattern
	// work, so an empty answer for the killed ones means something.
	probe := base + `
resource "nalabo_exec" "ps" {
  session_id = nalabo_workshop_session.s.id
  script     = "sleep 309 </dev/null >/dev/null 2>&1 & p=$!; sleep 0.3; ps -o args | grep -E '^sleep 3[01][0-9]'; kill $p"
}
`
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: base + `
resource "nalabo_exec" "hang" {
  session_id = nalabo_workshop_session.s.id
  script     = "sleep 300 & (setsid sleep 301 &); sleep 302"
  timeout    = "3s"
}
`,
				ExpectError: regexp.MustCompile(`(?s)Command\s+timed\s+out\s+after\s+3s.*timed\s+out\s+after\s+3s;\s+killed\s+3\s+processes\s+\(sleep\s+×3\)`),
			},
			{
				Config: probe + `
data "nalabo_session_validation" "v" {
  session_id = nalabo_workshop_session.s.id
  depends_on = [nalabo_exec.ps]
}
`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_exec.ps", "stdout", "sleep 309\n"),
					resource.TestCheckResourceAttr("data.nalabo_session_validation.v", "results.0.timed_out", "true"),
					resource.TestCheckResourceAttr("data.nalabo_session_validation.v", "results.0.reason",
						"timed out after 2s; killed 2 processes (sleep ×2)"),
				),
			},
			{
				// The check's processes are gone too (a new probe run: triggers change).
				Config: probe + `
resource "nalabo_exec" "ps2" {
  session_id = nalabo_workshop_session.s.id
  script     = "sleep 309 </dev/null >/dev/null 2>&1 & p=$!; sleep 0.3; ps -o args | grep -E '^sleep 3[01][0-9]'; kill $p"
}
`,
				Check: resource.TestCheckResourceAttr("nalabo_exec.ps2", "stdout", "sleep 309\n"),
			},
		},
	})
}
