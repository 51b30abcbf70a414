package provider

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/browser"
)

// TestAccGateway_browser: a class applied with the real Terraform CLI, a session's
// access_url opened in chromium: `echo $((6*7))` shows 42 on the terminal, "check my
// work" shows a pass and a fail; the other session's URL with this session's token is
// refused; after terraform destroy the access_url is refused. (Web ports in the
// browser: internal/gateway's browser tests.)
func TestAccGateway_browser(t *testing.T) {
	testAccSetup(t)
	ctx := browser.Start(t) // skips without chromium unless NALABO_BROWSER_TESTS=1
	gw := startAccGateway(t)
	name := acctest.RandName("gwbrowser")
	pa, pb := acctest.RandName("ada"), acctest.RandName("bo")
	var urlA, idB string
	// The browser checks run as a subtest: a failure there ends the subtest, not the
	// test, so Terraform still destroys the class.
	inBrowser := func(what string, f func(t *testing.T)) error {
		if !t.Run(what, f) {
			return errors.New(what + " failed")
		}
		return nil
	}
	config := fmt.Sprintf(`
provider "nalabo" {
  gateway {
    url         = %q
    signing_key = %q
  }
}
`, gw, accSigningKey) + gradedSessionConfig(name, pa, fmt.Sprintf(`
resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, pb))
	// Not parallel: a parallel test waits for the serial ones, and the browser's
	// deadline (browser.Start) would pass meanwhile.
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			acctest.CheckDestroy(t, []string{pa, pb}, []string{name}),
			func(*terraform.State) error {
				return inBrowser("destroyed", func(t *testing.T) { browser.Message(ctx, t, urlA, "has ended") })
			},
		),
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				captureAttr("nalabo_workshop_session.s", "access_url", &urlA),
				captureAttr("nalabo_workshop_session.b", "id", &idB),
				func(*terraform.State) error {
					return inBrowser("terminal and checks", func(t *testing.T) {
						browser.TerminalAndChecks(ctx, t, urlA, pa, "greets", "has-answer")
					})
				},
				func(*terraform.State) error {
					_, tok, ok := strings.Cut(urlA, "?token=")
					if !ok {
						return fmt.Errorf("access_url %q has no token", urlA)
					}
					return inBrowser("other session", func(t *testing.T) {
						browser.Message(ctx, t, gw+"/s/"+idB+"/?token="+tok, "not valid for this session")
					})
				},
			),
		}},
	})
}
