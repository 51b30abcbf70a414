package kubernetes

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// snapshotTTL is how long one class-wide listing answers session reads. Terraform
// refreshes a class with one read per session, all within a moment: one listing per kind
// serves them all. A session this process changed is not answered from a listing taken
// before the change ended (it is read on its own, see sessionReads); changes made
// elsewhere are seen within snapshotTTL, as with any cached read.
const snapshotTTL = 2 * time.Second

// snapshotListTimeout bounds the listing shared by the reads waiting for it (it runs on
// a context of its own: one reader giving up must not fail the others).
const snapshotListTimeout = 30 * time.Second

// sessionReads shares class-wide listings between concurrent session reads. Every
// session change this backend makes takes a new generation when it starts and when it
// ends, and records the latter per session: a listing started at generation g answers
// for a session only if the session's last change ended before g. Per session, not for
// the whole class: the reads of one plan claim their sessions one by one (a label), which
// must not throw away the listing the other reads share.
type sessionReads struct {
	gen     atomic.Uint64
	mu      sync.Mutex
	cur     *readSnapshot
	changes map[string]uint64  // session ID -> generation at which its last change ended (or 0: in progress)
	flight  singleflight.Group // one listing in flight
	lists   atomic.Int64       // listings taken (tests)
}

// readSnapshot is one label-selected LIST per kind of every namespace session's objects,
// indexed by namespace.
type readSnapshot struct {
	gen     uint64
	taken   time.Time // when the listing started
	err     error     // a listing that failed: reads go one by one until it expires
	ns      map[string]*corev1.Namespace
	quotas  map[string]*corev1.ResourceQuota
	secrets map[string]*corev1.Secret
	pods    map[string]*corev1.Pod
}

// change marks session id as changing until the returned function is called: meanwhile
// and afterwards no listing taken before the end answers for it.
func (r *sessionReads) change(id string) func() {
	r.mu.Lock()
	if r.changes == nil {
		r.changes = map[string]uint64{}
	}
	r.changes[id] = 0
	r.mu.Unlock()
	r.gen.Add(1)
	return func() {
		g := r.gen.Add(1)
		r.mu.Lock()
		r.changes[id] = g
		r.mu.Unlock()
	}
}

// fresh says whether a listing started at generation g may answer for id.
func (r *sessionReads) fresh(id string, g uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, changed := r.changes[id]
	return !changed || (c != 0 && c <= g)
}

// snapshot returns a listing taken less than snapshotTTL ago, taking one if needed
// (concurrent callers share it).
func (b *Backend) snapshot(ctx context.Context) (*readSnapshot, error) {
	r := &b.reads
	r.mu.Lock()
	s := r.cur
	r.mu.Unlock()
	if s != nil && time.Since(s.taken) < snapshotTTL {
		return s, s.err
	}
	ch := r.flight.DoChan("list", func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snapshotListTimeout)
		defer cancel()
		s := b.listSnapshot(lctx, r.gen.Load())
		r.mu.Lock()
		if r.cur == nil || r.cur.taken.Before(s.taken) {
			r.cur = s
		}
		r.mu.Unlock()
		return s, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		s, ok := res.Val.(*readSnapshot)
		if !ok {
			return nil, fmt.Errorf("session listing: %v", res.Err)
		}
		return s, s.err
	}
}

// listSnapshot lists the session namespaces and their quotas, kubeconfig secrets and
// workspace pods, one LIST per kind across namespaces.
func (b *Backend) listSnapshot(ctx context.Context, g uint64) *readSnapshot {
	b.reads.lists.Add(1)
	s := &readSnapshot{gen: g, taken: time.Now()}
	core := b.cs.CoreV1()
	sel := metav1.ListOptions{LabelSelector: sessionSelector()}
	var (
		wg                      sync.WaitGroup
		nsErr, qErr, sErr, pErr error
		nsList                  *corev1.NamespaceList
		qList                   *corev1.ResourceQuotaList
		secList                 *corev1.SecretList
		podList                 *corev1.PodList
	)
	wg.Add(4)
	go func() { defer wg.Done(); nsList, nsErr = core.Namespaces().List(ctx, sel) }()
	go func() { defer wg.Done(); qList, qErr = core.ResourceQuotas("").List(ctx, sel) }()
	go func() { defer wg.Done(); secList, sErr = core.Secrets("").List(ctx, sel) }()
	go func() { defer wg.Done(); podList, pErr = core.Pods("").List(ctx, sel) }()
	wg.Wait()
	for what, err := range map[string]error{"namespaces": nsErr, "quotas": qErr, "secrets": sErr, "pods": pErr} {
		if err != nil {
			s.err = fmt.Errorf("list session %s: %w", what, err)
			return s
		}
	}
	s.ns = make(map[string]*corev1.Namespace, len(nsList.Items))
	for i := range nsList.Items {
		s.ns[nsList.Items[i].Name] = &nsList.Items[i]
	}
	s.quotas = make(map[string]*corev1.ResourceQuota, len(qList.Items))
	for i := range qList.Items {
		if q := &qList.Items[i]; q.Name == quotaName {
			s.quotas[q.Namespace] = q
		}
	}
	s.secrets = make(map[string]*corev1.Secret, len(secList.Items))
	for i := range secList.Items {
		if sec := &secList.Items[i]; sec.Name == kubeconfigSecret {
			s.secrets[sec.Namespace] = sec
		}
	}
	s.pods = make(map[string]*corev1.Pod, len(podList.Items))
	for i := range podList.Items {
		if p := &podList.Items[i]; p.Name == workspacePodName {
			s.pods[p.Namespace] = p
		}
	}
	return s
}

// session answers a read of namespace session id from the listing. It answers only a
// complete, live namespace session: anything else (absent, terminating, a vcluster, an
// object missing) is left to the per-session read, which says exactly what is wrong.
func (s *readSnapshot) session(id string, now time.Time) (*workshop.Session, bool) {
	name := workshop.SessionObjectName(id)
	ns := s.ns[name]
	if ns == nil || ns.Labels[workshop.LabelSession] != id || ns.DeletionTimestamp != nil ||
		ns.Labels[LabelIsolation] == string(workshop.IsolationVCluster) {
		return nil, false
	}
	q, sec, pod := s.quotas[name], s.secrets[name], s.pods[name]
	if q == nil || sec == nil || pod == nil {
		return nil, false
	}
	return assembleSession(ns, q, sec, false, pod, now), true
}

// snapshotSession answers GetSession from a shared listing when it can: the listing
// started after this process last changed the session.
func (b *Backend) snapshotSession(ctx context.Context, id string) (*workshop.Session, bool) {
	s, err := b.snapshot(ctx)
	if err != nil || !b.reads.fresh(id, s.gen) {
		return nil, false
	}
	return s.session(id, time.Now())
}
