package reconciler

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Kubernetes tests run against the local test cluster (scripts/testcluster-up.sh) when
// NALABO_K8S_KUBECONFIG names its kubeconfig. They use the control namespace
// "nalabo-test" as the backend's own tests do.

const k8sTestNamespace = "nalabo-test"

func kubeconfigPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("NALABO_K8S_KUBECONFIG")
	if p == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set (start the test cluster: scripts/testcluster-up.sh)")
	}
	return p
}

func newKube(t *testing.T) *kubernetes.Backend {
	t.Helper()
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: kubeconfigPath(t), Namespace: k8sTestNamespace})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clientset is the test's own view of the cluster.
func clientset(t *testing.T) k8s.Interface {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath(t))
	if err != nil {
		t.Fatal(err)
	}
	return k8s.NewForConfigOrDie(rc)
}

// TestKubernetesLeaderElection: two electors on one Lease, one leads and the other
// follows; when the leader stops (its lease released), the other takes over. Never do
// both lead at a sampled moment.
func TestKubernetesLeaderElection(t *testing.T) {
	kubeconfigPath(t)
	cs := clientset(t)
	ctx := ctxFor(t, 3*time.Minute)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, k8sTestNamespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := newKube(t).ApplyTemplate(ctx, &workshop.Template{Name: "rtest-ns", Infrastructure: workshop.InfraKubernetes,
			Isolation: workshop.IsolationNamespace, Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1"}}); err != nil {
			t.Fatalf("create the control namespace: %v", err)
		}
	}
	lease := acctest.RandName("rtest-lease")
	t.Cleanup(func() {
		_ = cs.CoordinationV1().Leases(k8sTestNamespace).Delete(context.Background(), lease, metav1.DeleteOptions{})
	})

	type candidate struct {
		e      *Election
		cancel context.CancelFunc
		done   chan struct{}
	}
	var cands []*candidate
	for _, id := range []string{"reconciler-a", "reconciler-b"} {
		c := &candidate{e: NewElection(newKube(t), lease, id, nil), done: make(chan struct{})}
		cctx, cancel := context.WithCancel(ctx)
		c.cancel = cancel
		go func() { defer close(c.done); c.e.Run(cctx) }()
		cands = append(cands, c)
	}
	t.Cleanup(func() {
		for _, c := range cands {
			c.cancel()
			<-c.done
		}
	})

	// leaders samples who leads; it fails the test if both do.
	leaders := func() []int {
		var out []int
		for i, c := range cands {
			if _, ok := c.e.Leading(); ok {
				out = append(out, i)
			}
		}
		if len(out) > 1 {
			t.Fatalf("both candidates lead at once")
		}
		return out
	}
	waitLeader := func(exclude int) int {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			if l := leaders(); len(l) == 1 && l[0] != exclude {
				return l[0]
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no leader elected (excluding %d)", exclude)
		return -1
	}
	first := waitLeader(-1)
	other := 1 - first
	// The follower keeps following for a while and sees who leads.
	for i := 0; i < 30; i++ {
		if l := leaders(); len(l) != 1 || l[0] != first {
			t.Fatalf("leadership moved without reason: %v", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The follower learns who leads at its next attempt on the Lease.
	for deadline := time.Now().Add(time.Minute); cands[other].e.Leader() != cands[first].e.identity; {
		if time.Now().After(deadline) {
			t.Fatalf("follower sees leader %q, want %q", cands[other].e.Leader(), cands[first].e.identity)
		}
		leaders()
		time.Sleep(100 * time.Millisecond)
	}
	l, err := cs.CoordinationV1().Leases(k8sTestNamespace).Get(ctx, lease, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != cands[first].e.identity {
		t.Fatalf("lease holder: %+v %v", l, err)
	}

	// The leader stops: it releases the lease and the follower takes over.
	cands[first].cancel()
	<-cands[first].done
	if _, ok := cands[first].e.Leading(); ok {
		t.Fatal("a stopped candidate still leads")
	}
	if second := waitLeader(first); second != other {
		t.Fatalf("leader after hand-over: %d", second)
	}
}

// TestKubernetesReapNamespaceSession: an expired namespace-mode session is reaped by a
// reconciler over the Kubernetes backend; its namespace is gone afterwards. Without
// metrics-server the pass samples nothing and reports no error.
func TestKubernetesReapNamespaceSession(t *testing.T) {
	b := newKube(t)
	ctx := ctxFor(t, 5*time.Minute)
	name := acctest.RandName("rtest-k8s")
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: name, Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	created := time.Now().UTC().Truncate(time.Second)
	mk := func(participant string, createdAt time.Time, d time.Duration) string {
		spec := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: participant,
			Resources: workshop.Resources{CPU: "500m", Memory: "256Mi", Storage: "1Gi"},
			CreatedAt: createdAt, Duration: d, ExpiresAt: createdAt.Add(d)}
		t.Cleanup(func() { _ = b.DeleteSession(context.Background(), spec.ID) })
		if _, err := b.CreateSession(ctx, spec); err != nil {
			t.Fatalf("create session of %s: %v", participant, err)
		}
		return spec.ID
	}
	var expired, alive string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); expired = mk("ada", created.Add(-2*time.Minute), time.Minute) }()
	go func() { defer wg.Done(); alive = mk("grace", created, time.Hour) }()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	cfg := testConfig(name)
	cfg.Backends = []workshop.InfrastructureType{workshop.InfraKubernetes}
	cfg.ValidateInterval = 0
	r := New(cfg, []workshop.Backend{b}, nil, nil)
	base := serve(t, r)
	res := r.RunOnce(ctx)[0]
	if err := res.Err(); err != nil {
		t.Fatalf("pass: %v", err)
	}
	if strings.Join(res.Reaped, ",") != expired || res.Listed != 2 {
		t.Fatalf("pass: %+v", res)
	}
	cs := clientset(t)
	if _, err := cs.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(expired), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the reaped session's namespace is still there: %v", err)
	}
	if _, err := b.GetSession(ctx, alive); err != nil {
		t.Fatalf("the live session: %v", err)
	}
	mfs := scrape(t, base)
	wantValue(t, mfs, "nalabo_reaped_sessions_total", map[string]string{"backend": "kubernetes", "template": name}, 1)
	wantValue(t, mfs, "nalabo_sessions", map[string]string{"backend": "kubernetes", "template": name}, 1)
	wantValue(t, mfs, "nalabo_reconcile_errors_total", map[string]string{"backend": "kubernetes"}, 0)
	if _, ok := value(mfs, "nalabo_session_cpu_usage_millicores", map[string]string{"session": alive}); ok {
		t.Log("the cluster serves metrics.k8s.io: CPU usage reported")
	}
}

// TestKubernetesReapsLeftovers: a pre-pull DaemonSet whose creator was killed (its
// heartbeat stale) is removed by a leading reconciler's pass and counted; one whose
// creator is alive stays (positive control); a reconciler that does not lead removes
// nothing.
func TestKubernetesReapsLeftovers(t *testing.T) {
	const ns = "nalabo-test-leftovers-rec"
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: kubeconfigPath(t), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := clientset(t)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	leave := func(name string, heartbeat time.Time) {
		t.Helper()
		labels := map[string]string{workshop.LabelManagedBy: workshop.ManagedByValue, workshop.LabelRole: "pre-pull", "nalabo.io/pre-pull": name}
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels,
				Annotations: map[string]string{"nalabo.io/heartbeat": heartbeat.UTC().Format(time.RFC3339)}},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "c", Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "3600"}}},
				}},
			},
		}
		if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	leave("killed", time.Now().Add(-5*time.Minute))
	leave("alive", time.Now().Add(time.Hour)) // stays fresh for the whole test

	cfg := testConfig("leftovers")
	cfg.Backends = []workshop.InfrastructureType{workshop.InfraKubernetes}
	cfg.ValidateInterval = 0
	r := New(cfg, []workshop.Backend{b}, nil, nil)
	base := serve(t, r)
	r.SetLeading(func() (context.Context, bool) { return nil, false })
	if res := r.RunOnce(ctx)[0]; res.Err() != nil {
		t.Fatalf("pass (not leading): %v", res.Err())
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Get(ctx, "killed", metav1.GetOptions{}); err != nil {
		t.Fatalf("a reconciler that does not lead removed a leftover: %v", err)
	}
	r.SetLeading(func() (context.Context, bool) { return ctx, true })
	if res := r.RunOnce(ctx)[0]; res.Err() != nil {
		t.Fatalf("pass: %v", res.Err())
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Get(ctx, "killed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the killed pre-pull's DaemonSet is still there: %v", err)
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Get(ctx, "alive", metav1.GetOptions{}); err != nil {
		t.Fatalf("positive control: the live pre-pull's DaemonSet was removed: %v", err)
	}
	wantValue(t, scrape(t, base), "nalabo_reaped_leftovers_total", map[string]string{"backend": "kubernetes"}, 1)
}
