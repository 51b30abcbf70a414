package reconciler

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestKubernetesRemnants: a create whose context ends (before it starts, and in the
// middle, once its namespace exists) leaves no namespace; a remnant namespace (session
// labels, marked as still being created, no workspace) is kept within the remnant
// grace and reaped after it, while a complete session of the same template is not.
func TestKubernetesRemnants(t *testing.T) {
	b := newKube(t)
	cs := clientset(t)
	ctx := ctxFor(t, 8*time.Minute)
	name := acctest.RandName("rtest-rem")
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: name, Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	spec := func(participant string) *workshop.SessionSpec {
		now := time.Now().UTC().Truncate(time.Second)
		s := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: participant,
			Resources: workshop.Resources{CPU: "500m", Memory: "256Mi"}, CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)}
		t.Cleanup(func() { _ = b.DeleteSession(context.Background(), s.ID) })
		return s
	}
	namespaceGone := func(id string) {
		t.Helper()
		ns, err := cs.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(id), metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("namespace of session %s is still there (%v, deletion %v)", id, err, ns.DeletionTimestamp)
		}
	}

	// A create on a context that has already ended.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	early := spec("early")
	if _, err := b.CreateSession(cancelled, early); err == nil {
		t.Fatal("a create on a cancelled context succeeded")
	}
	namespaceGone(early.ID)

	// A create cancelled once its namespace exists (mid-create). Positive control: the
	// namespace was seen.
	mid := spec("mid")
	mctx, mcancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := b.CreateSession(mctx, mid); errc <- err }()
	seen := false
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && !seen; time.Sleep(20 * time.Millisecond) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(mid.ID), metav1.GetOptions{})
		seen = err == nil
	}
	mcancel()
	if !seen {
		t.Fatal("the mid-create namespace never appeared")
	}
	if err := <-errc; err == nil {
		t.Log("the create finished before its cancellation took effect")
		_ = b.DeleteSession(ctx, mid.ID)
	}
	namespaceGone(mid.ID)

	// A complete session and a hand-made remnant of the same template.
	done := spec("done")
	if _, err := b.CreateSession(ctx, done); err != nil {
		t.Fatal(err)
	}
	remnant := workshop.NewSessionID()
	labels := workshop.WithLabels(workshop.SessionLabels(remnant, "ghost", name, time.Now().Add(time.Hour)),
		workshop.LabelBackend, string(workshop.InfraKubernetes), workshop.LabelCreating, "true")
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: workshop.SessionObjectName(remnant), Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), remnant) })

	cfg := testConfig(name)
	cfg.Backends = []workshop.InfrastructureType{workshop.InfraKubernetes}
	cfg.ValidateInterval = 0
	res := New(cfg, []workshop.Backend{b}, nil, nil).RunOnce(ctx)[0]
	if err := res.Err(); err != nil || len(res.Reaped) != 0 || res.Listed != 2 {
		t.Fatalf("pass within the remnant grace: %+v (err %v)", res, err)
	}
	cfg.RemnantGrace = 0
	res = New(cfg, []workshop.Backend{b}, nil, nil).RunOnce(ctx)[0]
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Reaped, ",") != remnant || strings.Join(res.Remnants, ",") != remnant {
		t.Fatalf("pass with --remnant-grace=0: reaped %v remnants %v, want [%s]", res.Reaped, res.Remnants, remnant)
	}
	namespaceGone(remnant)
	if s, err := b.GetSession(ctx, done.ID); err != nil || s.Incomplete {
		t.Fatalf("the complete session: %+v %v", s, err)
	}
}
