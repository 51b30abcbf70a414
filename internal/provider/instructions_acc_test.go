package provider

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// TestAccTemplate_instructions: a template's instructions show, rendered and without
// their <script>, on the session's page at access_url (a real gateway); changing them
// updates the template in place (same id) and leaves the session alone, and the page
// shows the new text.
func TestAccTemplate_instructions(t *testing.T) {
	testAccSetup(t)
	gw := startAccGateway(t)
	name := acctest.RandName("instr")
	participant := acctest.RandName("ada")
	const tmpl, sess = "nalabo_workshop_template.t", "nalabo_workshop_session.s"
	config := func(instructions string) string {
		extra := ""
		if instructions != "" {
			extra = fmt.Sprintf("  instructions = %q\n", instructions)
		}
		return fmt.Sprintf(`
provider "nalabo" {
  gateway {
    url         = %q
    signing_key = %q
  }
}
`, gw, accSigningKey) + dockerTemplateConfig("t", name, acctest.ShellImage1, extra) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, participant)
	}
	var tmplID, sessID string
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: config("# Step one\n\nRun `make`.\n\n<script>document.title='pwned'</script>\n"),
				Check: resource.ComposeAggregateTestCheckFunc(
					captureAttr(tmpl, "id", &tmplID),
					captureAttr(sess, "id", &sessID),
					resource.TestCheckResourceAttr(tmpl, "instructions", "# Step one\n\nRun `make`.\n\n<script>document.title='pwned'</script>\n"),
					checkPage(sess, []string{`<article id="instructions">`, ">Step one</h1>", "<code>make</code>"}, []string{"<script>document", "pwned"}),
				),
			},
			{
				Config: config("# Step two\n"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tmpl, plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(sess, plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals(tmpl, "id", &tmplID),
					checkAttrEquals(sess, "id", &sessID),
					checkPage(sess, []string{">Step two</h1>"}, []string{"Step one"}),
				),
			},
			{
				Config: config(""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(tmpl, plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(sess, plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr(tmpl, "instructions"),
					checkAttrEquals(tmpl, "id", &tmplID),
					checkPage(sess, []string{">" + participant + "<"}, []string{`id="instructions"`}),
				),
			},
		},
	})
}

// checkPage opens the session's access_url (token exchange, then the page with the
// cookie) and checks what its HTML holds and lacks.
func checkPage(addr string, want, notWant []string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		u := s.RootModule().Resources[addr].Primary.Attributes["access_url"]
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(u)
		if err != nil {
			return err
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if resp.StatusCode != http.StatusOK || len(cookies) == 0 {
			return fmt.Errorf("token exchange: %d, %d cookies", resp.StatusCode, len(cookies))
		}
		req, _ := http.NewRequest("GET", strings.SplitN(u, "?", 2)[0], nil)
		req.AddCookie(cookies[0])
		page, err := c.Do(req)
		if err != nil {
			return err
		}
		defer page.Body.Close()
		b, _ := io.ReadAll(page.Body)
		body := string(b)
		if page.StatusCode != http.StatusOK {
			return fmt.Errorf("page: %d", page.StatusCode)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				return fmt.Errorf("the page lacks %q:\n%s", w, body)
			}
		}
		for _, w := range notWant {
			if strings.Contains(body, w) {
				return fmt.Errorf("the page holds %q:\n%s", w, body)
			}
		}
		return nil
	}
}
