package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/vclusterenv"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// kubeVClusterBackend is a backend for the local vCluster harness, or skips (as the
// backend's own vCluster tests: NALABO_VCLUSTER_TESTS=1 and
// eval "$(scripts/vcluster-harness.sh --env)").
func kubeVClusterBackend(t *testing.T) *kubernetes.Backend {
	t.Helper()
	h := vclusterenv.FromEnv(t)
	path := os.Getenv("NALABO_K8S_KUBECONFIG")
	if path == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set")
	}
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: path, Namespace: "nalabo-test", VCluster: kubernetes.VClusterConfig{
		ChartPath:         h.Chart,
		SyncerImage:       h.SyncerImage,
		ControlPlaneImage: h.ControlPlaneImage,
		CoreDNSImage:      h.CoreDNSImage,
		ImagePullPolicy:   h.PullPolicy,
		APIAccess:         os.Getenv("NALABO_VCLUSTER_API_ACCESS"),
		Values:            os.Getenv("NALABO_VCLUSTER_VALUES"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVClusterGateway: a vcluster-isolated session through the gateway: the terminal
// WebSocket (echo 42), execute with a timeout (the process is gone after it), "check my
// work", and the nginx-demo Service of the template's manifests, which runs inside the
// virtual cluster and is reached through its synced host copy; another session's token
// is refused on each.
func TestVClusterGateway(t *testing.T) {
	b := kubeVClusterBackend(t)
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwvc"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationVCluster,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests: nginxDemo,
		Validations: []workshop.Validation{
			{Name: "greets", Command: []string{"sh", "-c", "echo hello"}, OutputPattern: "^hello"},
			{Name: "has-answer", Command: []string{"sh", "-c", "test -f /tmp/answer"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	start := time.Now()
	s := createSessionWith(t, b, tpl, "vera", time.Hour, workshop.Resources{CPU: "1000m", Memory: "2Gi"}, 6*time.Minute)
	t.Logf("vCluster session ready in %s", time.Since(start).Round(time.Second))
	g := startGateway(t, b)
	tok := g.key.Sign(s.ID, s.ExpiresAt)
	other := g.key.Sign("0123456789", s.ExpiresAt)

	// Terminal.
	ws, resp, err := g.dialTerminal(t, s.ID, tok, g.http.URL)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte("echo $((6*7))\r"))
	readUntil(t, ws, "\r\n42\r\n", time.Minute)
	ws.Close()
	if ws, resp, err := g.dialTerminal(t, s.ID, other, g.http.URL); err == nil {
		ws.Close()
		t.Fatal("another session's token opened a terminal")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another session's token: %v %v", err, resp)
	}

	// Execute: a command that ends, then one that times out and is gone after it.
	r := g.api(t, "POST", s.ID+"/execute", testAPIKey, `{"command":"echo out; exit 3","timeout":20000}`)
	var e executeResponse
	if r.code != 200 || json.Unmarshal([]byte(r.body), &e) != nil || e.Stdout != "out\n" || e.ExitCode != 3 {
		t.Fatalf("execute: %d %s", r.code, r.body)
	}
	r = g.api(t, "POST", s.ID+"/execute", testAPIKey, `{"command":"sleep 4243","timeout":500}`)
	if r.code != 200 || json.Unmarshal([]byte(r.body), &e) != nil || !e.TimedOut || e.KillError != "" {
		t.Fatalf("execute with timeout: %d %s", r.code, r.body)
	}
	res, err := b.Exec(ctxFor(t, time.Minute), s.ID, &workshop.ExecRequest{Command: []string{"ps", "-ef"}})
	if err != nil || strings.Contains(res.Stdout, "sleep 4243") || !strings.Contains(res.Stdout, "ps -ef") {
		t.Fatalf("after the timeout, ps shows: %v %+v", err, res)
	}
	r = g.api(t, "POST", s.ID+"/validate", testAPIKey, "")
	if r.code != 200 || !strings.Contains(r.body, `"passed":false`) || !strings.Contains(r.body, `"name":"greets"`) {
		t.Fatalf("validate: %d %s", r.code, r.body)
	}

	// The web port: the page links it, and the Service inside the vCluster answers.
	// (vCluster syncs the Service to the host a moment after it is created inside.)
	var page response
	waitFor(t, 2*time.Minute, "the page links the nginx-demo Service", func() bool {
		page = g.do(t, "GET", "/s/"+s.ID+"/", tok, "", nil)
		return page.code == 200 && strings.Contains(page.body, `href="port/80/"`)
	})
	waitFor(t, 3*time.Minute, "nginx-demo in the vCluster answers through the gateway", func() bool {
		r = g.do(t, "GET", "/s/"+s.ID+"/port/80/", tok, "", nil)
		return r.code == 200
	})
	if !strings.Contains(r.body, "nalabo-test httpd") {
		t.Fatalf("nginx-demo page: %q", r.body)
	}
	t.Logf("nginx-demo in the vCluster through the gateway: %.80q", r.body)
	if r := g.do(t, "GET", "/s/"+s.ID+"/port/80/", other, "", nil); r.code != http.StatusForbidden {
		t.Errorf("another session's token on the web port: %d", r.code)
	}
}
