package gateway

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Browser tests drive Debian's chromium (headless) with chromedp. They run when
// NALABO_BROWSER_TESTS=1 (make test sets it) and fail then without chromium; without the
// variable they run only when chromium is installed, and skip with a message otherwise.

// browser returns a chromedp context on a fresh headless chromium.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("NALABO_CHROMIUM")
	if path == "" {
		for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if found, err := exec.LookPath(p); err == nil {
				path = found
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("NALABO_BROWSER_TESTS") == "1" {
			t.Fatal("NALABO_BROWSER_TESTS=1 but no chromium: apt-get install chromium (scripts/install-deps.sh does)")
		}
		t.Skip("browser test: chromium is not installed (apt-get install chromium); NALABO_BROWSER_TESTS=1 makes this a failure")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1200, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel2)
	// The first action starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	tctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	return tctx
}

// screenText is the terminal's visible text (xterm.js DOM renderer rows).
const screenText = `document.querySelector('.xterm-rows') ? document.querySelector('.xterm-rows').innerText : ''`

// waitScreen polls the terminal until its text contains want.
func waitScreen(ctx context.Context, t *testing.T, want string) string {
	t.Helper()
	var text string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if text, err = chromedp.Run(ctx, chromedp.Evaluate[string](screenText)); err != nil {
			t.Fatalf("read the terminal: %v", err)
		}
		if strings.Contains(text, want) && strings.TrimSpace(text) != "" {
			return text
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the terminal never showed %q; it shows:\n%s", want, text)
	return ""
}

// TestBrowserDockerSession opens a Docker session's access URL in chromium, types into
// the terminal, reads the answer from the screen, presses "check my work" and reads a
// pass and a fail, opens the compose web service's port link and reads its page; then
// another session's token and a deleted session's are refused.
func TestBrowserDockerSession(t *testing.T) {
	dockerIntegration(t)
	ctx := browser(t)
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

// browserTerminalAndChecks opens s's access URL, checks the token exchange and the
// participant, types `echo $((6*7))` and reads 42, presses "check my work" and reads
// the pass of "greets" and the fail of "has-answer" (the templates' two validations).
// It returns the access URL; the session's page stays open.
func browserTerminalAndChecks(ctx context.Context, t *testing.T, g *testGateway, s *workshop.Session) string {
	t.Helper()
	accessURL := g.http.URL + "/s/" + s.ID + "/?token=" + g.key.Sign(s.ID, s.ExpiresAt)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(accessURL),
		chromedp.WaitVisible(chromedp.CSS(`.xterm-rows`)),
	); err != nil {
		t.Fatalf("open the access URL: %v", err)
	}
	location, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	participant, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#participant`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(location, "token=") || participant != s.Participant {
		t.Fatalf("after the exchange: location %s, participant %q (want %q)", location, participant, s.Participant)
	}
	// The WebSocket is up and the shell has printed its prompt.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#status.ok`))); err != nil {
		t.Fatalf("the terminal did not connect: %v", err)
	}
	waitScreen(ctx, t, " ")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#terminal`)),
	); err != nil {
		t.Fatalf("focus the terminal: %v", err)
	}
	typeKeys(ctx, t, "echo $((6*7))\r")
	screen := waitScreen(ctx, t, "\n42")
	t.Logf("terminal:\n%s", screen)

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#check`)),
		chromedp.WaitVisible(chromedp.CSS(`#result-list li[data-passed="false"]`)),
	); err != nil {
		t.Fatalf("check my work: %v", err)
	}
	passed, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#result-list li[data-passed="true"]`)))
	if err != nil {
		t.Fatal(err)
	}
	failed, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#result-list li[data-passed="false"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(passed, "greets") || !strings.Contains(failed, "has-answer") || !strings.Contains(failed, "exit code 1") {
		t.Fatalf("results: passed %q, failed %q", passed, failed)
	}
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
	// The other session's port with this session's cookie: refused.
	if err := chromedp.Do(ctx, chromedp.Navigate(g.http.URL+"/s/"+other.ID+"/port/"+port+"/")); err != nil {
		t.Fatal(err)
	}
	if msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#message`))); err != nil || !strings.Contains(msg, "access link") {
		t.Fatalf("the other session's port says %q (%v)", msg, err)
	}

	// This session's token on the other session's URL: refused, no terminal.
	if err := chromedp.Do(ctx, chromedp.Navigate(g.http.URL+"/s/"+other.ID+"/?token="+g.key.Sign(s.ID, s.ExpiresAt))); err != nil {
		t.Fatalf("other session: %v", err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#message`)))
	if err != nil || !strings.Contains(msg, "not valid for this session") {
		t.Fatalf("other session's page says %q (%v)", msg, err)
	}

	// Deleted: the access URL is refused.
	if err := b.DeleteSession(ctxFor(t, 3*time.Minute), s.ID); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(accessURL)); err != nil {
		t.Fatalf("deleted session: %v", err)
	}
	msg, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#message`)))
	if err != nil || !strings.Contains(msg, "has ended") {
		t.Fatalf("deleted session's page says %q (%v)", msg, err)
	}
}

// typeKeys types s into the focused element as key presses (keyDown with its text,
// keyUp), as a keyboard does; "\r" is the Enter key. (chromedp.SendKeys adds "char"
// events, which xterm.js would count twice.)
func typeKeys(ctx context.Context, t *testing.T, s string) {
	t.Helper()
	for _, r := range s {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Text: string(r), UnmodifiedText: string(r), Key: string(r)}
		if r == '\r' {
			down.Key, down.Code, down.WindowsVirtualKeyCode, down.NativeVirtualKeyCode = "Enter", "Enter", 13, 13
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, ev); err != nil {
				t.Fatalf("type %q: %v", r, err)
			}
		}
	}
}
