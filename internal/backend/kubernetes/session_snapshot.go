package kubernetes

import (
	"context"
	"fmt"
	"strconv"
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
// serves them all. Changes made by this process invalidate it at once (the generation);
// changes made elsewhere are seen within snapshotTTL, as with any cached read.
const snapshotTTL = 2 * time.Second

// snapshotListTimeout bounds the listing shared by the reads waiting for it (it runs on
// a context of its own: one reader giving up must not fail the others).
const snapshotListTimeout = 30 * time.Second

// sessionReads shares class-wide listings between concurrent session reads.
type sessionReads struct {
	gen    atomic.Uint64 // bumped by every session change this backend makes
	mu     sync.Mutex
	cur    *readSnapshot
	flight singleflight.Group // one listing per generation in flight
	lists  atomic.Int64       // listings taken (tests)
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

// changed marks that a session changed: snapshots taken before are not used again.
// Mutations call it when they start and when they end, so that no read starting after a
// change ended gets a listing taken before it.
func (r *sessionReads) changed() { r.gen.Add(1) }

// snapshot returns a listing taken after the last change this process made and less than
// snapshotTTL ago, taking one if needed (concurrent callers share it).
func (b *Backend) snapshot(ctx context.Context) (*readSnapshot, error) {
	r := &b.reads
	g := r.gen.Load()
	r.mu.Lock()
	s := r.cur
	r.mu.Unlock()
	if s != nil && s.gen == g && time.Since(s.taken) < snapshotTTL {
		return s, s.err
	}
	ch := r.flight.DoChan(strconv.FormatUint(g, 10), func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snapshotListTimeout)
		defer cancel()
		s := b.listSnapshot(lctx, g)
		r.mu.Lock()
		if r.cur == nil || r.cur.gen < g || (r.cur.gen == g && r.cur.taken.Before(s.taken)) {
			r.cur = s
		}
		r.mu.Unlock()
		return s, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		s := res.Val.(*readSnapshot)
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

// snapshotSession answers GetSession from a shared listing when it can.
func (b *Backend) snapshotSession(ctx context.Context, id string) (*workshop.Session, bool) {
	s, err := b.snapshot(ctx)
	if err != nil {
		return nil, false
	}
	return s.session(id, time.Now())
}
