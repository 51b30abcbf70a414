package provider

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/envconfig"
	"github.com/nalabo/terraform-provider-nalabo/internal/gateway"
	"github.com/nalabo/terraform-provider-nalabo/internal/gateway/token"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const accSigningKey = "acc-test-signing-key-0123456789abcdef0123"

// startAccGateway serves a gateway on loopback against the engine the provider uses.
func startAccGateway(t *testing.T) string {
	t.Helper()
	var cfg docker.Config
	if _, err := envconfig.Docker(&cfg, os.Getenv); err != nil {
		t.Fatal(err)
	}
	b, err := docker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	key, err := token.NewKey(accSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.New(&gateway.Config{Keys: []token.Key{key}}, []workshop.Backend{b}, nil, io.Discard)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

func gatewaySessionConfig(gatewayURL, name, participant, duration string) string {
	provider := ""
	if gatewayURL != "" {
		provider = fmt.Sprintf(`
provider "nalabo" {
  gateway {
    url         = %q
    signing_key = %q
  }
}
`, gatewayURL, accSigningKey)
	}
	return provider + dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  duration    = %q
}
`, participant, duration)
}

// checkAccessURLOpens follows an access URL's token exchange and loads the page.
func checkAccessURLOpens(addr, participant string, want int) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		u := s.RootModule().Resources[addr].Primary.Attributes["access_url"]
		return openAccessURL(u, participant, want)
	}
}

func openAccessURL(u, participant string, want int) error {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET access_url: %d, want %d", resp.StatusCode, want)
	}
	if want != http.StatusOK {
		return nil
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		cookie = ck
	}
	if cookie == nil {
		return fmt.Errorf("no cookie from the token exchange")
	}
	req, _ := http.NewRequest("GET", strings.SplitN(u, "?", 2)[0], nil)
	req.AddCookie(cookie)
	page, err := c.Do(req)
	if err != nil {
		return err
	}
	defer page.Body.Close()
	body, _ := io.ReadAll(page.Body)
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), ">"+participant+"<") {
		return fmt.Errorf("the session page: %d %.200s", page.StatusCode, body)
	}
	return nil
}

// TestAccGateway_accessURL: with a gateway block each session has an access_url that
// opens its page on a real gateway; it is stable (an empty plan), changes with
// expires_at, is null without a gateway, and stops working once the session is
// destroyed.
func TestAccGateway_accessURL(t *testing.T) {
	testAccSetup(t)
	gw := startAccGateway(t)
	name := acctest.RandName("gwacc")
	participant := acctest.RandName("ada")
	const addr = "nalabo_workshop_session.s"
	var first, second, id string
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			acctest.CheckDestroy(t, []string{participant}, []string{name}),
			func(*terraform.State) error { return openAccessURL(second, participant, http.StatusGone) },
		),
		Steps: []resource.TestStep{
			{
				Config: gatewaySessionConfig(gw, name, participant, "2h"),
				Check: resource.ComposeAggregateTestCheckFunc(
					captureAttr(addr, "id", &id),
					captureAttr(addr, "access_url", &first),
					func(*terraform.State) error {
						if !regexp.MustCompile(`^` + regexp.QuoteMeta(gw) + `/s/` + id + `/\?token=v1\.[0-9a-f]{8}\.` + id + `\.[0-9]+\.[A-Za-z0-9_-]{43}$`).MatchString(first) {
							return fmt.Errorf("access_url %q", first)
						}
						return nil
					},
					checkAccessURLOpens(addr, participant, http.StatusOK),
				),
			},
			{
				// Refresh and plan again: the same URL, nothing to do.
				Config:   gatewaySessionConfig(gw, name, participant, "2h"),
				PlanOnly: true,
			},
			{
				// A longer session: a new URL (its token expires later), the session kept.
				Config: gatewaySessionConfig(gw, name, participant, "3h"),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals(addr, "id", &id),
					captureAttr(addr, "access_url", &second),
					func(*terraform.State) error {
						if second == first {
							return fmt.Errorf("access_url did not change with expires_at")
						}
						return nil
					},
					checkAccessURLOpens(addr, participant, http.StatusOK),
				),
			},
			{
				Config: gatewaySessionConfig("", name, participant, "3h"),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals(addr, "id", &id),
					resource.TestCheckNoResourceAttr(addr, "access_url"),
				),
			},
			{
				// Back, for CheckDestroy to try the URL after destroy.
				Config: gatewaySessionConfig(gw, name, participant, "3h"),
				Check:  resource.TestCheckResourceAttrPtr(addr, "access_url", &second),
			},
		},
	})
}

// TestAccGateway_invalid: the gateway block's mistakes fail the plan, naming the
// attribute.
func TestAccGateway_invalid(t *testing.T) {
	testAccSetup(t)
	for _, tc := range []struct{ name, block, want string }{
		{"short key", `url = "https://lab.example.com"` + "\n" + `signing_key = "short"`, `at least 32`},
		{"no key", `url = "https://lab.example.com"`, `Missing gateway signing key`},
		{"no url", `signing_key = "` + accSigningKey + `"`, `Missing gateway URL`},
		{"bad url", `url = "lab.example.com"` + "\n" + `signing_key = "` + accSigningKey + `"`, `http:// or https:// URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: fmt.Sprintf(`
provider "nalabo" {
  gateway {
    %s
  }
}
data "nalabo_infrastructure" "i" {}
`, tc.block),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(tc.want),
				}},
			})
		})
	}
}
