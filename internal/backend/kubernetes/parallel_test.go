package kubernetes

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestParallelSessions creates a few sessions at once (workspace only), checks that a
// participant cannot read another session's namespace, and removes them.
func TestParallelSessions(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-class", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Resources: workshop.Resources{CPU: "200m", Memory: "256Mi", Storage: "1Gi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })

	const n = 5
	sessions := make([]*workshop.Session, n)
	now := time.Now()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		id := workshop.NewSessionID()
		t.Cleanup(func() { _ = b.DeleteSession(context.Background(), id) })
		g.Go(func() error {
			s, err := b.CreateSession(gctx, &workshop.SessionSpec{ID: id, Template: tpl, Participant: "p" + id,
				CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)})
			sessions[i] = s
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sessions created in parallel: %s", n, time.Since(start))

	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(sessions[0].Kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	pc := k8s.NewForConfigOrDie(rc)
	if _, err := pc.CoreV1().Pods(sessions[1].Namespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("participant of %s in %s: want forbidden, got %v", sessions[0].ID, sessions[1].Namespace, err)
	}

	start = time.Now()
	g, gctx = errgroup.WithContext(ctx)
	for _, s := range sessions {
		g.Go(func() error { return b.DeleteSession(gctx, s.ID) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sessions deleted in parallel: %s", n, time.Since(start))
}
