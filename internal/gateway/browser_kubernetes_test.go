package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/browser"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestBrowserKubernetesSession is TestBrowserDockerSession on a namespace session of
// the test cluster (NALABO_K8S_KUBECONFIG): the terminal, "check my work", the
// nginx-demo Service's page through the API server's proxy, and the refusals.
func TestBrowserKubernetesSession(t *testing.T) {
	b := kubeBackend(t) // skips without the test cluster
	ctx := browser.Start(t)
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwbrk8s"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests: nginxDemo,
		Resources: workshop.Resources{CPU: "1", Memory: "512Mi", Storage: "1Gi"},
		Validations: []workshop.Validation{
			{Name: "greets", Command: []string{"sh", "-c", "echo hello"}, OutputPattern: "^hello"},
			{Name: "has-answer", Command: []string{"sh", "-c", "test -f /tmp/answer"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	// The other session only has to exist: a template without manifests is cheaper.
	small, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwbrk8s"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}, Ports: []int{80}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), small.ID) })
	s := createSession(t, b, tpl, "kora", time.Hour)
	other := createSession(t, b, small, "lars", time.Hour)
	g := startGateway(t, b)

	accessURL := browserTerminalAndChecks(ctx, t, g, s)
	browserWebPort(ctx, t, g, s, "80", "nalabo-test httpd")
	browserRefusals(ctx, t, g, b, s, other, "80", accessURL)
}

// TestBrowserVClusterSession is the same in chromium on a vcluster-isolated session
// (the vCluster harness): the nginx-demo Service runs inside the virtual cluster and
// its page is reached through the synced host Service.
func TestBrowserVClusterSession(t *testing.T) {
	b := kubeVClusterBackend(t) // skips without the harness
	ctx := browser.Start(t)
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwbrvc"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationVCluster,
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
	// The other session only has to exist: a namespace session is cheaper.
	small, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwbrvc"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}, Ports: []int{80}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), small.ID) })
	s := createSessionWith(t, b, tpl, "vito", time.Hour, workshop.Resources{CPU: "1000m", Memory: "2Gi"}, 6*time.Minute)
	other := createSession(t, b, small, "wilma", time.Hour)
	g := startGateway(t, b)
	// vCluster syncs the Service to the host a moment after it is created inside.
	tok := g.key.Sign(s.ID, s.ExpiresAt)
	waitFor(t, 2*time.Minute, "the page links the nginx-demo Service", func() bool {
		p := g.do(t, "GET", "/s/"+s.ID+"/", tok, "", nil)
		return p.code == 200 && strings.Contains(p.body, `href="port/80/"`)
	})

	accessURL := browserTerminalAndChecks(ctx, t, g, s)
	browserWebPort(ctx, t, g, s, "80", "nalabo-test httpd")
	browserRefusals(ctx, t, g, b, s, other, "80", accessURL)
}
