package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// portBackend is a fake backend (in addition to the Docker and Kubernetes tests): one
// live session whose declared port 8000 is a real loopback HTTP and WebSocket server.
type portBackend struct {
	workshop.Backend
	session *workshop.Session
	target  *url.URL
}

func (f *portBackend) Type() workshop.InfrastructureType { return workshop.InfraDocker }

func (f *portBackend) GetSession(_ context.Context, id string) (*workshop.Session, error) {
	if id != f.session.ID {
		return nil, workshop.ErrNotFound
	}
	return f.session, nil
}

func (f *portBackend) GetTemplate(context.Context, string) (*workshop.Template, error) {
	return nil, workshop.ErrNotFound
}

func (f *portBackend) WebPorts(context.Context, *workshop.Session) ([]workshop.WebPort, error) {
	return []workshop.WebPort{{Service: "web", Port: 8000, Target: f.target}}, nil
}

func (f *portBackend) PortTransport() http.RoundTripper { return http.DefaultTransport }

// TestPortProxyWebSocketAndHeaders: a WebSocket echoes through /s/<id>/port/<n>/, the
// app never sees the gateway's cookie, its redirects and cookies stay under the port's
// prefix, and a cross-origin WebSocket is refused (the same-origin one is the control).
func TestPortProxyWebSocketAndHeaders(t *testing.T) {
	app := http.NewServeMux()
	app.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			k, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(k, append([]byte("echo:"), m...))
		}
	})
	app.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "app", Value: "1", Path: "/", Domain: "example.com"})
		fmt.Fprintf(w, "path=%s cookie=%q prefix=%s", r.URL.Path, r.Header.Get("Cookie"), r.Header.Get("X-Forwarded-Prefix"))
	})
	app.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/home", http.StatusFound) })
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL + "/")

	id := workshop.NewSessionID()
	sess := &workshop.Session{ID: id, Participant: "pat", ExpiresAt: time.Now().Add(time.Hour)}
	g := startGateway(t, &portBackend{session: sess, target: target})
	tok := g.key.Sign(id, sess.ExpiresAt)

	r := g.do(t, "GET", "/s/"+id+"/port/8000/headers", tok, "", map[string]string{"Cookie": cookieName + "=" + tok + "; theirs=2"})
	if r.code != 200 || !strings.Contains(r.body, `path=/headers cookie="theirs=2" prefix=/s/`+id+`/port/8000/`) {
		t.Fatalf("headers seen by the app: %d %s", r.code, r.body)
	}
	if c := r.header.Get("Set-Cookie"); c != "app=1; Path=/s/"+id+"/port/8000/" {
		t.Errorf("app cookie = %q, want it scoped to the port", c)
	}
	// A path that climbs never reaches the app (ServeMux redirects to the clean path, a
	// raw one is refused); the clean path is the control above.
	for _, p := range []string{"/s/" + id + "/port/8000/a/../../headers", "/s/" + id + "/port/8000/a/%2e%2e/%2e%2e/x"} {
		if r := g.do(t, "GET", p, tok, "", nil); r.code == 200 || strings.Contains(r.body, "path=") {
			t.Errorf("%s: %d %s", p, r.code, r.body)
		}
	}
	req := httptest.NewRequest("GET", "/s/"+id+"/port/8000/x", nil)
	req.SetPathValue("id", id)
	req.SetPathValue("port", "8000")
	req.SetPathValue("rest", "a/../../headers")
	req.AddCookie(&http.Cookie{Name: cookieName, Value: tok})
	rec := httptest.NewRecorder()
	g.srv.portProxy(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("a climbing rest: %d %s", rec.Code, rec.Body.String())
	}
	if r := g.do(t, "GET", "/s/"+id+"/port/8000/login", tok, "", nil); r.code != http.StatusFound || r.header.Get("Location") != "/s/"+id+"/port/8000/home" {
		t.Errorf("redirect: %d %q", r.code, r.header.Get("Location"))
	}

	u := "ws" + strings.TrimPrefix(g.http.URL, "http") + "/s/" + id + "/port/8000/ws"
	dial := func(origin string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{"Cookie": {cookieName + "=" + tok}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).Dial(u, h)
	}
	ws, resp, err := dial(g.http.URL)
	if err != nil {
		t.Fatalf("same-origin WebSocket: %v %v", err, resp)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "echo:ping" {
		t.Fatalf("echo: %q %v", m, err)
	}
	for _, origin := range []string{"https://evil.example", ""} {
		if ws, resp, err := dial(origin); err == nil {
			ws.Close()
			t.Errorf("WebSocket with origin %q opened", origin)
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v %v", origin, err, resp)
		}
	}
}
