package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/browser"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Browser tests drive chromium with chromedp (internal/acctest/browser: when they run,
// skip or fail).

// TestBrowserDockerSession opens a Docker session's access URL in chromium, types into
// the terminal, reads the answer from the screen, presses "check my work" and reads a
// pass and a fail, opens the compose web service's port link and reads its page; then
// another session's token and a deleted session's are refused.
func TestBrowserDockerSession(t *testing.T) {
	dockerIntegration(t)
	ctx := browser.Start(t)
	b := newDocker(t)
	tpl := dockerWebTemplate(t, b)
	s := createSession(t, b, tpl, "dora", time.Hour)
	other := createSession(t, b, tpl, "emil", time.Hour)
	g := startGateway(t, b)
	accessURL := browserTerminalAndChecks(ctx, t, g, s)

	// The instructions: rendered, and their script neither a tag nor run.
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#instructions h1`)))
	if err != nil || heading != "Welcome" {
		t.Fatalf("instructions heading %q (%v)", heading, err)
	}
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#instructions script, #instructions img').length`))
	if err != nil || scripts != 0 {
		t.Fatalf("instructions hold %d script or img elements (%v)", scripts, err)
	}
	if pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned !== undefined || document.title === 'pwned'`)); err != nil || pwned {
		t.Fatalf("the instructions' script ran: %v %v", pwned, err)
	}

	browserWebPort(ctx, t, g, s, "8080", "hello from web")
	browserRefusals(ctx, t, g, b, s, other, "8080", accessURL)
}

// browserTerminalAndChecks opens s's access URL: the terminal and "check my work" (the
// templates' two validations, "greets" passing and "has-answer" failing). It returns
// the access URL; the session's page stays open.
func browserTerminalAndChecks(ctx context.Context, t *testing.T, g *testGateway, s *workshop.Session) string {
	t.Helper()
	accessURL := g.http.URL + "/s/" + s.ID + "/?token=" + g.key.Sign(s.ID, s.ExpiresAt)
	browser.TerminalAndChecks(ctx, t, accessURL, s.Participant, "greets", "has-answer")
	return accessURL
}

// browserWebPort follows the page's link to the declared port (in this tab: the link
// opens a new one) and waits until the page there shows want (a service may still be
// starting).
func browserWebPort(ctx context.Context, t *testing.T, g *testGateway, s *workshop.Session, port, want string) {
	t.Helper()
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#ports a[data-port="`+port+`"]').href`))
	if err != nil || !strings.HasSuffix(href, "/s/"+s.ID+"/port/"+port+"/") {
		t.Fatalf("port link %q: %v", href, err)
	}
	var body string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(href)); err != nil {
			t.Fatalf("open the web port: %v", err)
		}
		if body, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the web port shows %q, want %q", body, want)
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("web port %s: %.80q", port, body)
}

// browserRefusals: with s's cookie, other's port and other's page with s's token are
// refused; after DeleteSession, s's access URL is refused.
func browserRefusals(ctx context.Context, t *testing.T, g *testGateway, b workshop.Backend, s, other *workshop.Session, port, accessURL string) {
	t.Helper()
	browser.Message(ctx, t, g.http.URL+"/s/"+other.ID+"/port/"+port+"/", "access link")
	browser.Message(ctx, t, g.http.URL+"/s/"+other.ID+"/?token="+g.key.Sign(s.ID, s.ExpiresAt), "not valid for this session")
	if err := b.DeleteSession(ctxFor(t, 3*time.Minute), s.ID); err != nil {
		t.Fatal(err)
	}
	browser.Message(ctx, t, accessURL, "has ended")
}
