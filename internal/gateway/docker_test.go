package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestDockerGateway drives the gateway against real Docker sessions: the token
// exchange, the page, a TTY in the workspace over the WebSocket, "check my work", the
// runtime API, the refusals (another session's token, a tampered or expired token, a
// cross-origin WebSocket, a wrong API key, an oversized body) and the end of access
// when the session is deleted. Each refusal has its accepted counterpart.
func TestDockerGateway(t *testing.T) {
	dockerIntegration(t)
	b := newDocker(t)
	tpl := dockerTemplate(t, b)
	a := createSession(t, b, tpl, "alice", 2*time.Hour)
	other := createSession(t, b, tpl, "bob", 2*time.Hour)
	g := startGateway(t, b)
	tokA := g.key.Sign(a.ID, a.ExpiresAt)
	tokB := g.key.Sign(other.ID, other.ExpiresAt)

	t.Run("token exchange", func(t *testing.T) {
		r := g.do(t, "GET", "/s/"+a.ID+"/?token="+tokA, "", "", nil)
		if r.code != 200 || !strings.Contains(r.body, `http-equiv="refresh"`) {
			t.Fatalf("exchange: %d %s", r.code, r.body)
		}
		c := r.header.Get("Set-Cookie")
		for _, want := range []string{cookieName + "=" + tokA, "Path=/s/" + a.ID + "/", "HttpOnly", "SameSite=Strict"} {
			if !strings.Contains(c, want) {
				t.Errorf("Set-Cookie %q lacks %q", c, want)
			}
		}
		if strings.Contains(c, "Secure") {
			t.Errorf("Set-Cookie %q is Secure on plain HTTP without --secure-cookies", c)
		}
		if r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("headers: %v", r.header)
		}
		// Another session's token on this session's URL.
		if r := g.do(t, "GET", "/s/"+a.ID+"/?token="+tokB, "", "", nil); r.code != http.StatusForbidden || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("bob's token on alice's URL: %d, cookie %q", r.code, r.header.Get("Set-Cookie"))
		}
	})

	t.Run("page", func(t *testing.T) {
		r := g.do(t, "GET", "/s/"+a.ID+"/", tokA, "", nil)
		if r.code != 200 || !strings.Contains(r.body, ">alice<") || !strings.Contains(r.body, `id="check"`) {
			t.Fatalf("page: %d %s", r.code, r.body)
		}
		for _, tc := range []struct {
			name, path, tok string
			want            int
		}{
			{"no cookie", "/s/" + a.ID + "/", "", http.StatusUnauthorized},
			{"bob's token as alice's cookie", "/s/" + a.ID + "/", tokB, http.StatusForbidden},
			{"tampered", "/s/" + a.ID + "/", tampered(tokA), http.StatusForbidden},
			{"expired", "/s/" + a.ID + "/", g.key.Sign(a.ID, time.Now().Add(-time.Second)), http.StatusGone},
			{"unknown session", "/s/0123456789/", g.key.Sign("0123456789", a.ExpiresAt), http.StatusGone},
			{"bob's own", "/s/" + other.ID + "/", tokB, http.StatusOK},
		} {
			if r := g.do(t, "GET", tc.path, tc.tok, "", nil); r.code != tc.want {
				t.Errorf("%s: %d, want %d (%s)", tc.name, r.code, tc.want, r.body)
			}
		}
		if r := g.do(t, "GET", "/assets/vendor/xterm/xterm.js", "", "", nil); r.code != 200 || !strings.Contains(r.body, "Terminal") {
			t.Errorf("xterm.js: %d", r.code)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		ws, resp, err := g.dialTerminal(t, a.ID, tokA, g.http.URL)
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		defer ws.Close()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"resize","cols":123,"rows":41}`)); err != nil {
			t.Fatal(err)
		}
		// The typed line echoes "6*7"; only the shell's answer is "42" on a line of its own.
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte("echo $((6*7)); echo done\r")); err != nil {
			t.Fatal(err)
		}
		out := readUntil(t, ws, "\r\ndone\r\n", 30*time.Second)
		if !strings.Contains(out, "\r\n42\r\n") {
			t.Fatalf("no 42 in %q", out)
		}
		waitTermSize(t, ws, "41 123", 30*time.Second)
		// A process left running when the browser goes is killed with the terminal.
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("sleep 3217 & echo started\r"))
		readUntil(t, ws, "\r\nstarted", 30*time.Second)
		if res, err := b.Exec(ctxFor(t, time.Minute), a.ID, &workshop.ExecRequest{Command: []string{"ps"}}); err != nil || !strings.Contains(res.Stdout, "sleep 3217") {
			t.Fatalf("positive control: ps does not show the terminal's sleep: %v %q", err, res.Stdout)
		}
		ws.Close()
		waitFor(t, 30*time.Second, "the terminal's processes end", func() bool {
			res, err := b.Exec(ctxFor(t, time.Minute), a.ID, &workshop.ExecRequest{Command: []string{"ps"}})
			return err == nil && !strings.Contains(res.Stdout, "3217")
		})
		// Refusals: cross-origin, no origin, bob's token.
		for _, tc := range []struct{ name, tok, origin string }{
			{"cross-origin", tokA, "https://evil.example"},
			{"no origin", tokA, ""},
			{"bob's token", tokB, g.http.URL},
		} {
			ws, resp, err := g.dialTerminal(t, a.ID, tc.tok, tc.origin)
			if err == nil {
				ws.Close()
				t.Errorf("%s: terminal opened", tc.name)
			} else if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %v, response %v", tc.name, err, resp)
			}
		}
	})

	t.Run("check my work", func(t *testing.T) {
		r := g.do(t, "POST", "/s/"+a.ID+"/validate", tokA, "", nil)
		var got struct {
			Results []checkJSON `json:"results"`
		}
		if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil || len(got.Results) != 2 {
			t.Fatalf("validate: %d %s", r.code, r.body)
		}
		if !got.Results[0].Passed || got.Results[1].Passed || got.Results[1].Reason == "" || got.Results[0].Output != "" {
			t.Fatalf("results: %+v", got.Results)
		}
		if r := g.do(t, "POST", "/s/"+a.ID+"/validate", tokA, "", map[string]string{"Origin": "https://evil.example"}); r.code != http.StatusForbidden {
			t.Fatalf("cross-origin validate: %d", r.code)
		}
	})

	t.Run("runtime API", func(t *testing.T) {
		r := g.api(t, "GET", a.ID, testAPIKey, "")
		var s sessionJSON
		if r.code != 200 || json.Unmarshal([]byte(r.body), &s) != nil || s.Participant != "alice" || s.TimeLeftSeconds <= 0 {
			t.Fatalf("get: %d %s", r.code, r.body)
		}
		if r := g.api(t, "GET", a.ID, "platform-key-wrong-0123456789", ""); r.code != http.StatusUnauthorized {
			t.Fatalf("wrong key: %d", r.code)
		}
		if r := g.do(t, "GET", "/api/workshops/sessions/"+a.ID, "", "", nil); r.code != http.StatusUnauthorized {
			t.Fatalf("no key: %d", r.code)
		}
		if r := g.api(t, "GET", "0123456789", testAPIKey, ""); r.code != http.StatusNotFound {
			t.Fatalf("wrong session: %d", r.code)
		}
		r = g.api(t, "POST", a.ID+"/execute", testAPIKey, `{"command":"echo out; echo err >&2; echo 42 > /tmp/answer; exit 3","timeout":20000}`)
		var e executeResponse
		if r.code != 200 || json.Unmarshal([]byte(r.body), &e) != nil || e.Stdout != "out\n" || e.Stderr != "err\n" || e.ExitCode != 3 || e.TimedOut {
			t.Fatalf("execute: %d %s", r.code, r.body)
		}
		start := time.Now()
		r = g.api(t, "POST", a.ID+"/execute", testAPIKey, `{"command":"sleep 4242","timeout":500}`)
		if r.code != 200 || json.Unmarshal([]byte(r.body), &e) != nil || !e.TimedOut || e.ExitCode != -1 || time.Since(start) > 20*time.Second {
			t.Fatalf("execute with timeout: %d %s after %s", r.code, r.body, time.Since(start))
		}
		res, err := b.Exec(ctxFor(t, time.Minute), a.ID, &workshop.ExecRequest{Command: []string{"ps"}})
		if err != nil || strings.Contains(res.Stdout, "4242") {
			t.Fatalf("the timed-out command still runs: %v %s", err, res.Stdout)
		}
		if r := g.api(t, "POST", a.ID+"/execute", testAPIKey, `{"command":"true","timeout":1,"extra":1}`); r.code != http.StatusBadRequest {
			t.Fatalf("unknown field: %d", r.code)
		}
		big := `{"command":"` + strings.Repeat("x", maxBodyBytes) + `"}`
		if r := g.api(t, "POST", a.ID+"/execute", testAPIKey, big); r.code != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized body: %d", r.code)
		}
		// The execute above created /tmp/answer: both checks pass now, with output.
		r = g.api(t, "POST", a.ID+"/validate", testAPIKey, "")
		var v struct {
			Results []checkJSON `json:"results"`
			Passed  bool        `json:"passed"`
		}
		if r.code != 200 || json.Unmarshal([]byte(r.body), &v) != nil || !v.Passed || v.Results[0].Output != "hello\n" {
			t.Fatalf("validate: %d %s", r.code, r.body)
		}
	})

	t.Run("deleted session", func(t *testing.T) {
		ws, resp, err := g.dialTerminal(t, other.ID, tokB, g.http.URL)
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		defer ws.Close()
		_ = ws.WriteMessage(websocket.BinaryMessage, []byte("echo ready\r"))
		readUntil(t, ws, "ready", 30*time.Second)
		if err := b.DeleteSession(ctxFor(t, time.Minute), other.ID); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || (ce.Code != closeSessionGone && ce.Code != websocket.CloseNormalClosure) {
					t.Fatalf("terminal ended with %v, want close %d (or the shell's end)", err, closeSessionGone)
				}
				break
			}
		}
		if r := g.do(t, "GET", "/s/"+other.ID+"/?token="+tokB, "", "", nil); r.code != http.StatusGone {
			t.Fatalf("token of a deleted session: %d", r.code)
		}
		if r := g.api(t, "GET", other.ID, testAPIKey, ""); r.code != http.StatusNotFound {
			t.Fatalf("API on a deleted session: %d", r.code)
		}
	})

	t.Run("audit and metrics", func(t *testing.T) {
		events := map[string]int{}
		for _, r := range g.audit.records(t) {
			events[r.Event]++
			switch r.Event {
			case AuditTerminalEnd:
				if r.BytesIn == 0 || r.BytesOut == 0 {
					t.Errorf("terminal end without bytes: %+v", r)
				}
			case AuditExecute:
				if r.Who != "api:lms" || r.Command == "" || r.ExitCode == nil {
					t.Errorf("execute record: %+v", r)
				}
			}
		}
		for _, e := range []string{AuditAccess, AuditTerminalStart, AuditTerminalEnd, AuditExecute, AuditValidate} {
			if events[e] == 0 {
				t.Errorf("no %s audit record in %v", e, events)
			}
		}
		m := g.do(t, "GET", "/metrics", "", "", nil).body
		for _, want := range []string{`nalabo_gateway_terminals_total{result="ok"}`, `nalabo_gateway_api_requests_total{operation="execute",result="ok"}`,
			`nalabo_gateway_token_failures_total{reason="wrong_session"}`} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		for _, secret := range []string{tokA, tokB, testAPIKey, testSigningKey, strings.Split(tokA, ".")[4]} {
			if strings.Contains(g.audit.String(), secret) || strings.Contains(m, secret) {
				t.Errorf("a token or key leaked into the audit trail or metrics")
			}
		}
	})
}

// TestDockerGatewayRateLimit: after failBurst bad tokens an address is refused even
// with a good one, which worked before.
func TestDockerGatewayRateLimit(t *testing.T) {
	dockerIntegration(t)
	b := newDocker(t)
	s := createSession(t, b, dockerTemplate(t, b), "carol", time.Hour)
	g := startGateway(t, b)
	good := g.key.Sign(s.ID, s.ExpiresAt)
	if r := g.do(t, "GET", "/s/"+s.ID+"/", good, "", nil); r.code != 200 {
		t.Fatalf("good token: %d", r.code)
	}
	bad := tampered(good)
	for i := 0; i < failBurst; i++ {
		if r := g.do(t, "GET", "/s/"+s.ID+"/", bad, "", nil); r.code != http.StatusForbidden {
			t.Fatalf("bad token %d: %d", i, r.code)
		}
	}
	r := g.do(t, "GET", "/s/"+s.ID+"/", good, "", nil)
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after %d bad tokens: %d", failBurst, r.code)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
