package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// TestAccWorkshopSessionDataSource: a session is looked up by ID with its live state and
// its usage from Docker's statistics.
func TestAccWorkshopSessionDataSource(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("dsess")
	participant := acctest.RandName("ada")
	persistent := acctest.RandName("grace")
	const addr = "data.nalabo_workshop_session.s"
	const res = "nalabo_workshop_session.s"
	const paddr = "data.nalabo_workshop_session.p"
	number := regexp.MustCompile(`^[0-9.e+-]+$`)
	base := dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}

data "nalabo_workshop_session" "s" {
  id = nalabo_workshop_session.s.id
}
`, participant)
	// A persistent session in a given state; the data source is read after the
	// session's changes (depends_on), not at plan time.
	withPersistent := func(state string) string {
		return base + fmt.Sprintf(`
resource "nalabo_workshop_session" "p" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  persistence = { size = "64Mi", retain_days = 3 }
  state       = %q
}

data "nalabo_workshop_session" "p" {
  id         = nalabo_workshop_session.p.id
  depends_on = [nalabo_workshop_session.p]
}
`, persistent, state)
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant, persistent}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: base,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair(addr, "id", res, "id"),
					resource.TestCheckResourceAttrPair(addr, "template_id", res, "template_id"),
					resource.TestCheckResourceAttrPair(addr, "expires_at", res, "expires_at"),
					resource.TestCheckResourceAttrPair(addr, "workspace_name", res, "workspace_name"),
					resource.TestCheckResourceAttrPair(addr, "network_name", res, "network_name"),
					resource.TestCheckResourceAttr(addr, "participant", participant),
					resource.TestCheckResourceAttr(addr, "template_name", name),
					resource.TestCheckResourceAttr(addr, "infrastructure_type", "docker"),
					resource.TestCheckResourceAttr(addr, "status", "running"),
					resource.TestCheckResourceAttr(addr, "resources.cpu", "250m"),
					resource.TestCheckResourceAttr(addr, "resources.memory", "64Mi"),
					resource.TestCheckNoResourceAttr(addr, "namespace"),
					resource.TestMatchResourceAttr(addr, "usage.sampled_at", timestampRE),
					resource.TestMatchResourceAttr(addr, "usage.cpu_seconds", number),
					resource.TestCheckNoResourceAttr(addr, "usage.cpu_millicores"),
					resource.TestMatchResourceAttr(addr, "usage.memory_bytes", regexp.MustCompile(`^[1-9][0-9]*$`)),
					resource.TestCheckResourceAttr(addr, "usage.memory_limit_bytes", "67108864"),
					resource.TestMatchResourceAttr(addr, "usage.network_rx_bytes", regexp.MustCompile(`^[0-9]+$`)),
					resource.TestMatchResourceAttr(addr, "usage.network_tx_bytes", regexp.MustCompile(`^[0-9]+$`)),
					resource.TestCheckResourceAttr(addr, "usage.containers", "1"),
					// A session without persistence: running, no home.
					resource.TestCheckResourceAttr(addr, "state", "running"),
					resource.TestCheckNoResourceAttr(addr, "persistence"),
					resource.TestCheckNoResourceAttr(addr, "persistence.size"),
				),
			},
			{
				// A persistent session created stopped: the data source reads its state and
				// home from the live session.
				Config: withPersistent("stopped"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair(paddr, "id", "nalabo_workshop_session.p", "id"),
					resource.TestCheckResourceAttr(paddr, "state", "stopped"),
					resource.TestCheckResourceAttr(paddr, "status", "stopped"),
					resource.TestCheckResourceAttr(paddr, "persistence.size", "64Mi"),
					resource.TestCheckResourceAttr(paddr, "persistence.retain_days", "3"),
					resource.TestCheckResourceAttr(paddr, "persistence.pause_expiry", "false"),
					resource.TestCheckResourceAttr(addr, "state", "running"),
					resource.TestCheckNoResourceAttr(addr, "persistence.size"),
				),
			},
			{
				// Resumed: running, the home unchanged.
				Config: withPersistent("running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(paddr, "state", "running"),
					resource.TestCheckResourceAttr(paddr, "status", "running"),
					resource.TestCheckResourceAttr(paddr, "persistence.size", "64Mi"),
					resource.TestCheckResourceAttr(paddr, "persistence.retain_days", "3"),
				),
			},
			{
				Config: `
data "nalabo_workshop_session" "s" {
  id = "0000000000"
}
`,
				ExpectError: regexp.MustCompile(`(?s)Session not found.*"0000000000"`),
			},
		},
	})
}
