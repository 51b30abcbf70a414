// Package browser drives Debian's chromium (headless) with chromedp for the tests of the
// gateway's participant page: the gateway's own tests and the provider's acceptance
// test share it. Browser tests run when NALABO_BROWSER_TESTS=1 (make test sets it) and
// fail then without chromium; without the variable they run only when chromium is
// installed, and skip with a message otherwise.
package browser

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// Start returns a chromedp context on a fresh headless chromium, ended with the test.
func Start(t *testing.T) context.Context {
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
	tctx, cancel3 := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel3)
	return tctx
}

// screenText is the terminal's visible text (xterm.js DOM renderer rows).
const screenText = `document.querySelector('.xterm-rows') ? document.querySelector('.xterm-rows').innerText : ''`

// WaitScreen polls the terminal until its text contains want.
func WaitScreen(ctx context.Context, t *testing.T, want string) string {
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

// TypeKeys types s into the focused element as key presses (keyDown with its text,
// keyUp), as a keyboard does; "\r" is the Enter key. (chromedp.SendKeys adds "char"
// events, which xterm.js would count twice.)
func TypeKeys(ctx context.Context, t *testing.T, s string) {
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

// TerminalAndChecks opens an access URL, checks the token exchange (no token left in
// the location) and the participant's name, types `echo $((6*7))` and reads 42 from the
// screen, presses "check my work" and reads the pass of the check named passing and
// the fail (exit code 1) of the check named failing. The session's page stays open.
func TerminalAndChecks(ctx context.Context, t *testing.T, accessURL, participant, passing, failing string) {
	t.Helper()
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
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#participant`)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(location, "token=") || shown != participant {
		t.Fatalf("after the exchange: location %s, participant %q (want %q)", location, shown, participant)
	}
	// The WebSocket is up and the shell has printed its prompt.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#status.ok`))); err != nil {
		t.Fatalf("the terminal did not connect: %v", err)
	}
	WaitScreen(ctx, t, " ")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#terminal`))); err != nil {
		t.Fatalf("focus the terminal: %v", err)
	}
	TypeKeys(ctx, t, "echo $((6*7))\r")
	screen := WaitScreen(ctx, t, "\n42")
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
	if !strings.Contains(passed, passing) || !strings.Contains(failed, failing) || !strings.Contains(failed, "exit code 1") {
		t.Fatalf("results: passed %q, failed %q", passed, failed)
	}
}

// Message opens u and returns the gateway's refusal message (#message), failing the
// test when it does not contain want.
func Message(ctx context.Context, t *testing.T, u, want string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#message`)))
	if err != nil || !strings.Contains(msg, want) {
		t.Fatalf("%s says %q (%v), want %q", u, msg, err, want)
	}
	return msg
}
