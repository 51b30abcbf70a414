package gateway

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// webCompose is the compose `web` service of the provider's compose tests (busybox
// httpd on a bind mount, port 8080).
const webCompose = `
services:
  web:
    image: nalabo-test/healthy:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/srv"]
    volumes: ["./site:/srv:ro"]
    ports: ["8080:8080"]
`

// dockerWebTemplate is dockerTemplate with the compose web service serving
// "hello from web", and a workspace port (9090) where nothing listens.
func dockerWebTemplate(t *testing.T, b workshop.Backend) *workshop.Template {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("<h1>hello from web</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwweb"), Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: acctest.ShellImage1, Command: []string{"sleep", "infinity"}, Ports: []int{9090}},
		Compose:   webCompose, ComposeDir: dir,
		Resources: workshop.Resources{CPU: "300m", Memory: "96Mi"},
		Instructions: "# Welcome\n\nOpen the **web** port.\n\n<script>window.pwned = 1; document.title = 'pwned'</script>\n" +
			"<img src=x onerror=\"window.pwned = 2\">\n",
		Validations: []workshop.Validation{
			{Name: "greets", Command: []string{"sh", "-c", "echo hello"}, OutputPattern: "^hello"},
			{Name: "has-answer", Command: []string{"sh", "-c", "test -f /tmp/answer"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(ctxFor(t, time.Minute), tpl.ID) })
	return tpl
}

// TestDockerGatewayWebPorts opens the compose web service of a real Docker session
// through the gateway, and checks the refusals: an undeclared port, another session's
// token, no cookie; each next to the request that works.
func TestDockerGatewayWebPorts(t *testing.T) {
	dockerIntegration(t)
	b := newDocker(t)
	tpl := dockerWebTemplate(t, b)
	a := createSession(t, b, tpl, "wanda", time.Hour)
	other := createSession(t, b, tpl, "xavi", time.Hour)
	g := startGateway(t, b)
	tokA, tokB := g.key.Sign(a.ID, a.ExpiresAt), g.key.Sign(other.ID, other.ExpiresAt)

	// The page links the declared ports.
	page := g.do(t, "GET", "/s/"+a.ID+"/", tokA, "", nil)
	if page.code != 200 || !strings.Contains(page.body, `href="port/8080/"`) || !strings.Contains(page.body, `href="port/9090/"`) {
		t.Fatalf("page without port links: %d %s", page.code, page.body)
	}
	r := g.do(t, "GET", "/s/"+a.ID+"/port/8080/", tokA, "", nil)
	if r.code != 200 || !strings.Contains(r.body, "hello from web") {
		t.Fatalf("web through the gateway: %d %q", r.code, r.body)
	}
	if r.header.Get("Content-Security-Policy") == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("proxied response lacks the gateway's headers: %v", r.header)
	}
	if r := g.do(t, "GET", "/s/"+a.ID+"/port/8080/index.html", tokA, "", nil); r.code != 200 || !strings.Contains(r.body, "hello from web") {
		t.Fatalf("a path under the port: %d %q", r.code, r.body)
	}
	if r := g.do(t, "GET", "/s/"+a.ID+"/port/8080", tokA, "", nil); r.code != http.StatusFound || r.header.Get("Location") != "/s/"+a.ID+"/port/8080/" {
		t.Fatalf("no slash: %d %v", r.code, r.header.Get("Location"))
	}
	if r := g.do(t, "GET", "/s/"+other.ID+"/port/8080/", tokB, "", nil); r.code != 200 || !strings.Contains(r.body, "hello from web") {
		t.Fatalf("the other session's own web: %d %q", r.code, r.body)
	}
	for _, tc := range []struct {
		name, path, tok string
		want            int
	}{
		{"undeclared port", "/s/" + a.ID + "/port/8081/", tokA, http.StatusNotFound},
		{"the host's dockerd port", "/s/" + a.ID + "/port/2375/", tokA, http.StatusNotFound},
		{"not a port", "/s/" + a.ID + "/port/x/", tokA, http.StatusNotFound},
		{"another session's port with this token", "/s/" + other.ID + "/port/8080/", tokA, http.StatusForbidden},
		{"no cookie", "/s/" + a.ID + "/port/8080/", "", http.StatusUnauthorized},
		{"declared, nothing listens", "/s/" + a.ID + "/port/9090/", tokA, http.StatusBadGateway},
	} {
		if r := g.do(t, "GET", tc.path, tc.tok, "", nil); r.code != tc.want || strings.Contains(r.body, "hello from web") {
			t.Errorf("%s: %d, want %d (%q)", tc.name, r.code, tc.want, r.body)
		}
	}
	// A destroyed session's port is refused at once.
	if err := b.DeleteSession(ctxFor(t, time.Minute), other.ID); err != nil {
		t.Fatal(err)
	}
	if r := g.do(t, "GET", "/s/"+other.ID+"/port/8080/", tokB, "", nil); r.code != http.StatusGone {
		t.Fatalf("deleted session's port: %d", r.code)
	}
	m := g.do(t, "GET", "/metrics", "", "", nil).body
	for _, want := range []string{`nalabo_gateway_port_requests_total{result="ok"}`, `nalabo_gateway_port_requests_total{result="not_declared"}`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	found := false
	for _, rec := range g.audit.records(t) {
		found = found || (rec.Event == AuditPort && rec.Port == "web:8080" && rec.Session == a.ID)
	}
	if !found {
		t.Errorf("no port audit record: %s", g.audit.String())
	}
}
