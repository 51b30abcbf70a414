package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/gateway/token"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Integration tests run the gateway in-process (httptest, loopback) against the real
// dockerd (NALABO_DOCKER_TESTS=1 or TF_ACC=1) with the images of
// scripts/build-test-images.sh.

const (
	testPool          = "10.223.0.0/16"
	testNetworkPrefix = "nalabo-gtest-network"
	testSigningKey    = "test-signing-key-0123456789abcdef0123456789"
	testAPIKey        = "platform-key-0123456789abcdef"
)

func dockerIntegration(t *testing.T) {
	t.Helper()
	if os.Getenv("NALABO_DOCKER_TESTS") != "1" && os.Getenv("TF_ACC") != "1" {
		t.Skip("integration test against the Docker daemon: set NALABO_DOCKER_TESTS=1 (or TF_ACC=1) to run it")
	}
	acctest.PreCheck(t)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newDocker(t *testing.T) *docker.Backend {
	t.Helper()
	b, err := docker.New(docker.Config{Host: os.Getenv("DOCKER_HOST"), SubnetPool: testPool, NetworkPrefix: testNetworkPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// dockerTemplate applies a template with a passing and a failing check.
func dockerTemplate(t *testing.T, b workshop.Backend) *workshop.Template {
	t.Helper()
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gw"), Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: acctest.ShellImage1, Command: []string{"sleep", "infinity"}},
		Resources: workshop.Resources{CPU: "250m", Memory: "64Mi"},
		Validations: []workshop.Validation{
			{Name: "greets", Command: []string{"sh", "-c", "echo hello"}, OutputPattern: "^hello"},
			{Name: "has-answer", Command: []string{"sh", "-c", "test -f /tmp/answer"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	return tpl
}

// createSession creates a session expiring in lifetime, deleted when the test ends.
func createSession(t *testing.T, b workshop.Backend, tpl *workshop.Template, participant string, lifetime time.Duration) *workshop.Session {
	t.Helper()
	return createSessionWith(t, b, tpl, participant, lifetime, workshop.Resources{CPU: "250m", Memory: "64Mi", Storage: "1Gi"}, 2*time.Minute)
}

// createSessionWith is createSession with the session's resources and a creation timeout.
func createSessionWith(t *testing.T, b workshop.Backend, tpl *workshop.Template, participant string, lifetime time.Duration, res workshop.Resources, timeout time.Duration) *workshop.Session {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	spec := &workshop.SessionSpec{
		ID: workshop.NewSessionID(), Template: tpl, Participant: participant,
		Resources: res,
		CreatedAt: now, Duration: lifetime, ExpiresAt: now.Add(lifetime),
	}
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), spec.ID) })
	s, err := b.CreateSession(ctxFor(t, timeout), spec)
	if err != nil {
		t.Fatalf("create session of %s: %v", participant, err)
	}
	if s.ID == "" {
		s.ID = spec.ID
	}
	if s.ExpiresAt.IsZero() {
		s.ExpiresAt = spec.ExpiresAt
	}
	return s
}

// syncBuffer collects audit lines from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// records parses the audit lines.
func (s *syncBuffer) records(t *testing.T) []AuditRecord {
	t.Helper()
	var out []AuditRecord
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var r AuditRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// testGateway is a gateway served on loopback.
type testGateway struct {
	srv   *Server
	http  *httptest.Server
	key   token.Key
	audit *syncBuffer
}

func startGateway(t *testing.T, backends ...workshop.Backend) *testGateway {
	t.Helper()
	key, err := token.NewKey(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Keys: []token.Key{key}, APIKeys: []APIKey{{Name: "lms", Secret: testAPIKey}}}
	audit := &syncBuffer{}
	srv := New(cfg, backends, nil, audit)
	srv.sessionCheck = 300 * time.Millisecond
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &testGateway{srv: srv, http: hs, key: key, audit: audit}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: time.Minute}

type response struct {
	code   int
	body   string
	header http.Header
}

// do sends a request with the cookie token (if any), an Origin of the gateway and extra headers.
func (g *testGateway) do(t *testing.T, method, path, cookieTok, body string, hdr map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if cookieTok != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookieTok})
	}
	req.Header.Set("Origin", g.http.URL)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: string(b), header: resp.Header}
}

func (g *testGateway) api(t *testing.T, method, path, key, body string) response {
	t.Helper()
	return g.do(t, method, "/api/workshops/sessions/"+path, "", body, map[string]string{"Authorization": "Bearer " + key, "Origin": ""})
}

// dialTerminal opens the terminal WebSocket of a session with a cookie token.
func (g *testGateway) dialTerminal(t *testing.T, id, tok, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(g.http.URL, "http") + "/s/" + id + "/terminal?cols=100&rows=30"
	h := http.Header{}
	if tok != "" {
		h.Set("Cookie", cookieName+"="+tok)
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	return d.Dial(u, h)
}

// readUntil reads terminal output until it contains want or the deadline passes.
func readUntil(t *testing.T, ws *websocket.Conn, want string, d time.Duration) string {
	t.Helper()
	var got strings.Builder
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_ = ws.SetReadDeadline(deadline)
		kind, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("terminal output so far %q; waiting for %q: %v", got.String(), want, err)
		}
		if kind == websocket.BinaryMessage {
			got.Write(msg)
		}
		if strings.Contains(got.String(), want) {
			return got.String()
		}
	}
	t.Fatalf("terminal output %q never contained %q", got.String(), want)
	return ""
}

// waitTermSize types `stty size` until the terminal reports want ("rows cols"): a
// resize travels on its own stream and may land after the next typed line.
func waitTermSize(t *testing.T, ws *websocket.Conn, want string, d time.Duration) string {
	t.Helper()
	var got strings.Builder
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte("stty size\r")); err != nil {
			t.Fatal(err)
		}
		round := time.Now().Add(time.Second)
		for time.Now().Before(round) {
			_ = ws.SetReadDeadline(round)
			kind, msg, err := ws.ReadMessage()
			if err != nil {
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				t.Fatalf("terminal output so far %q; waiting for the size %q: %v", got.String(), want, err)
			}
			if kind == websocket.BinaryMessage {
				got.Write(msg)
			}
			if strings.Contains(got.String(), "\r\n"+want+"\r\n") {
				_ = ws.SetReadDeadline(time.Time{})
				return got.String()
			}
		}
	}
	t.Fatalf("terminal output %q never reported the size %q", got.String(), want)
	return ""
}

// tampered is tok with the signature's last character changed: to "A", or "B" when it is
// an "A" (a fixed replacement made a token its own tampered copy once in 64 runs).
func tampered(tok string) string {
	c := "A"
	if strings.HasSuffix(tok, "A") {
		c = "B"
	}
	return tok[:len(tok)-1] + c
}
