package kubernetes

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// countingRT counts the API requests a backend makes.
type countingRT struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

func countRequests(t *testing.T, b *Backend) *atomic.Int64 {
	t.Helper()
	n := &atomic.Int64{}
	rc := rest.CopyConfig(b.rest)
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingRT{rt, n} })
	b.cs = k8s.NewForConfigOrDie(rc)
	return n
}

// TestSessionSnapshot: concurrent reads of a class share one listing (4 requests for
// all of them), a snapshot answer equals a per-session read, and a change made by the
// backend is seen by the next read (no stale answer).
func TestSessionSnapshot(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-snapshot", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Resources: workshop.Resources{CPU: "200m", Memory: "256Mi", Storage: "1Gi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })

	const n = 3
	ids := make([]string, n)
	specs := make([]*workshop.SessionSpec, n)
	created := make([]*workshop.Session, n)
	now := time.Now().UTC().Truncate(time.Second)
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		ids[i] = workshop.NewSessionID()
		specs[i] = &workshop.SessionSpec{ID: ids[i], Template: tpl, Participant: "p" + ids[i],
			CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)}
		t.Cleanup(func() { _ = b.DeleteSession(context.Background(), ids[i]) })
		g.Go(func() error { var err error; created[i], err = b.CreateSession(gctx, specs[i]); return err })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// CreateSession answers from the objects it wrote: the same as a read.
	for i, id := range ids {
		read, err := b.getSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(created[i], read) {
			t.Fatalf("create's answer differs from a read:\n%+v\n%+v", created[i], read)
		}
	}

	// One operation's reads: 10 concurrent reads of each session.
	reqs := countRequests(t, b)
	lists := b.reads.lists.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 10*n)
	for range 10 {
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := b.GetSession(ctx, id)
				if err == nil && (s.ID != id || s.Status != workshop.StatusRunning) {
					err = errors.New("wrong session " + s.ID + " " + s.Status)
				}
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := b.reads.lists.Load() - lists; got != 1 {
		t.Fatalf("%d listings for one operation's reads, want 1", got)
	}
	if got := reqs.Load(); got != 4 {
		t.Fatalf("%d API requests for %d reads, want 4 (one LIST per kind)", got, 10*n)
	}
	t.Logf("%d concurrent reads of %d sessions: %d API requests", 10*n, n, reqs.Load())

	// A snapshot answer equals a per-session read (the snapshot must answer: a fallback
	// would compare the per-session read with itself).
	snap, err := b.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := reqs.Load()
	for _, id := range ids {
		fromSnap, ok := snap.session(id, time.Now())
		if !ok {
			t.Fatalf("the snapshot does not answer for %s", id)
		}
		direct, err := b.getSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromSnap, direct) {
			t.Fatalf("snapshot read differs from the per-session read:\n%+v\n%+v", fromSnap, direct)
		}
		if fromSnap.Kubeconfig == "" || fromSnap.Resources.CPU == "" {
			t.Fatalf("snapshot read lacks the kubeconfig or the quota: %+v", fromSnap)
		}
	}
	if got := reqs.Load() - before; got != 4*n {
		t.Fatalf("per-session reads made %d requests, want %d (a positive control of the count)", got, 4*n)
	}

	// A claim (a label the reads of one plan set one by one) stops the listing from
	// answering for that session only, not for the others.
	if b.reads.fresh(ids[0], snap.gen) != true || b.reads.fresh(ids[1], snap.gen) != true {
		t.Fatal("positive control: before any change the listing answers for every session")
	}
	if err := b.ClaimSession(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if b.reads.fresh(ids[0], snap.gen) || !b.reads.fresh(ids[1], snap.gen) {
		t.Fatalf("after claiming %s: fresh for it %v (want false), for %s %v (want true)",
			ids[0], b.reads.fresh(ids[0], snap.gen), ids[1], b.reads.fresh(ids[1], snap.gen))
	}
	if s, err := b.GetSession(ctx, ids[0]); err != nil || !s.Claimed {
		t.Fatalf("read after claim: %+v %v, want claimed", s, err)
	}

	// No stale answer after a change made by this backend: the quota changes, the next
	// read (within the snapshot's lifetime) sees it; the old snapshot would not have.
	if _, err := b.GetSession(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	old, _ := b.snapshot(ctx)
	spec := *specs[0]
	spec.Resources = workshop.Resources{CPU: "300m"}
	if _, err := b.UpdateSession(ctx, ids[0], &spec); err != nil {
		t.Fatal(err)
	}
	s, err := b.GetSession(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.CPU != "300m" {
		t.Fatalf("read after update: cpu %q, want 300m (stale snapshot)", s.Resources.CPU)
	}
	if stale, ok := old.session(ids[0], time.Now()); !ok || stale.Resources.CPU == "300m" {
		t.Fatalf("positive control: the snapshot taken before the update should say the old quota, got %+v", stale)
	}

	// A deleted session is gone for the next read.
	if _, err := b.GetSession(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteSession(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetSession(ctx, ids[1]); !errors.Is(err, workshop.ErrNotFound) {
		t.Fatalf("read after delete: %v, want not found", err)
	}
	// A session this process did not touch, whose pod was removed behind its back, is
	// degraded once the snapshot expires (the per-session fallback says so).
	grace := metav1.DeleteOptions{GracePeriodSeconds: new(int64)}
	if err := b.cs.CoreV1().Pods(workshop.SessionObjectName(ids[2])).Delete(ctx, workspacePodName, grace); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(snapshotTTL + 30*time.Second)
	for {
		s, err := b.GetSession(ctx, ids[2])
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == workshop.StatusDegraded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session without its pod: status %s, want degraded", s.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
