package reconciler

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestKubernetesPoolRefill: a leading reconciler fills a template's warm pool (nothing
// fills it before the pass: the positive control), a claim takes an entry, and the next
// pass refills the pool, counts the claim and reports the pool's gauges.
func TestKubernetesPoolRefill(t *testing.T) {
	b := newKube(t)
	ctx := ctxFor(t, 5*time.Minute)
	name := acctest.RandName("rtest-pool")
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: name, Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace, WarmPool: 2,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Resources: workshop.Resources{CPU: "500m", Memory: "256Mi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	free := func() int {
		t.Helper()
		list, err := clientset(t).CoreV1().Namespaces().List(ctx, metav1.ListOptions{
			LabelSelector: workshop.LabelPoolKey + "=" + workshop.PoolKey(tpl.ID) + "," + workshop.LabelPool + "=" + workshop.PoolFree})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	if n := free(); n != 0 {
		t.Fatalf("%d free entries before any pass", n)
	}

	cfg := testConfig(name)
	cfg.Backends = []workshop.InfrastructureType{workshop.InfraKubernetes}
	cfg.ValidateInterval = 0
	r := New(cfg, []workshop.Backend{b}, nil, nil)
	base := serve(t, r)
	if err := r.RunOnce(ctx)[0].Err(); err != nil {
		t.Fatalf("pass: %v", err)
	}
	if n := free(); n != 2 {
		t.Fatalf("%d free entries after a pass, want 2", n)
	}

	now := time.Now().UTC().Truncate(time.Second)
	spec := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: "ada",
		Resources: tpl.Resources, CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)}
	s, err := b.ClaimPooled(ctx, spec)
	if err != nil || s == nil {
		t.Fatalf("claim: %v, %v", s, err)
	}
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), s.ID) })
	if s.ID == spec.ID || s.Participant != "ada" || s.Status != workshop.StatusRunning || s.Kubeconfig == "" {
		t.Fatalf("claimed session: %+v", s)
	}
	res := r.RunOnce(ctx)[0]
	if err := res.Err(); err != nil {
		t.Fatalf("pass: %v", err)
	}
	if n := free(); n != 2 || res.PoolEntries != 1 {
		t.Fatalf("%d free entries after the claim and a pass (listed %d), want 2 (1)", n, res.PoolEntries)
	}
	mfs := scrape(t, base)
	wantValue(t, mfs, "nalabo_pool_claims_total", map[string]string{"backend": "kubernetes", "template": name}, 1)
	wantValue(t, mfs, "nalabo_pool_entries", map[string]string{"template": name, "state": workshop.PoolFree}, 2)
	wantValue(t, mfs, "nalabo_pool_entries", map[string]string{"template": name, "state": workshop.PoolClaimed}, 1)
	wantValue(t, mfs, "nalabo_pool_size", map[string]string{"template": name}, 2)
	wantValue(t, mfs, "nalabo_sessions", map[string]string{"backend": "kubernetes", "template": name}, 1)
}
