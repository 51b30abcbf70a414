package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestBrowserKubernetesSession is TestBrowserDockerSession on a namespace session of
// the test cluster (NALABO_K8S_KUBECONFIG): the terminal, "check my work", the
// nginx-demo Service's page through the API server's proxy, and the refusals.
func TestBrowserKubernetesSession(t *testing.T) {
	b := kubeBackend(t) // skips without the test cluster
	ctx := browser(t)
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
