package gateway

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestKubernetesGatewayTerminal: the browser terminal's WebSocket into a namespace
// session of the local test cluster (NALABO_K8S_KUBECONFIG), with resize, and the
// terminal's processes ended when it closes; another session's token is refused.
func TestKubernetesGatewayTerminal(t *testing.T) {
	path := os.Getenv("NALABO_K8S_KUBECONFIG")
	if path == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set (start the test cluster: scripts/testcluster-up.sh)")
	}
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: path, Namespace: "nalabo-test"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwk8s"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	s := createSession(t, b, tpl, "kim", time.Hour)
	g := startGateway(t, b)
	tok := g.key.Sign(s.ID, s.ExpiresAt)

	ws, resp, err := g.dialTerminal(t, s.ID, tok, g.http.URL)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"resize","cols":111,"rows":33}`))
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte("echo $((6*7)); sleep 3217 & echo started\r"))
	out := readUntil(t, ws, "\r\nstarted", time.Minute)
	if !strings.Contains(out, "\r\n42\r\n") {
		t.Fatalf("terminal output %q lacks 42", out)
	}
	waitTermSize(t, ws, "33 111", 30*time.Second)
	res, err := b.Exec(ctxFor(t, time.Minute), s.ID, &workshop.ExecRequest{Command: []string{"ps", "-ef"}})
	if err != nil || !strings.Contains(res.Stdout, "sleep 3217") {
		t.Fatalf("positive control: ps does not show the terminal's sleep: %v %+v", err, res)
	}
	ws.Close()
	waitFor(t, time.Minute, "the terminal's processes end", func() bool {
		res, err := b.Exec(ctxFor(t, time.Minute), s.ID, &workshop.ExecRequest{Command: []string{"ps", "-ef"}})
		return err == nil && !strings.Contains(res.Stdout, "sleep 3217")
	})

	other := g.key.Sign("0123456789", s.ExpiresAt)
	if ws, resp, err := g.dialTerminal(t, s.ID, other, g.http.URL); err == nil {
		ws.Close()
		t.Fatal("another session's token opened a terminal")
	} else if resp == nil || resp.StatusCode != 403 {
		t.Fatalf("another session's token: %v %v", err, resp)
	}
}
