package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.WarmPooler = (*Backend)(nil)

// Warm pool (DESIGN.md, "Warm pool"). An entry is a session namespace of the template
// labelled nalabo.io/pool=free and nalabo.io/pool-key=<PoolKey(template ID)>, with no
// participant, no expiry and no credential: namespace, quota, limit range, network
// policies, the participant's role and binding and the template's objects (ready).
// A claim flips the label to "claimed" with an Update carrying the namespace's
// resourceVersion: of two claimers one gets a Conflict and tries the next entry.

// poolSelector selects the entries of one pool in state ("" every state).
func poolSelector(key, state string) string {
	sel := workshop.LabelManagedBy + "=" + workshop.ManagedByValue + "," + workshop.LabelPoolKey
	if key != "" {
		sel += "=" + key
	}
	if state != "" {
		sel += "," + workshop.LabelPool + "=" + state
	}
	return sel
}

// poolEntries lists the namespaces of template id's pool in state, terminating ones left out.
func (b *Backend) poolEntries(ctx context.Context, id, state string) ([]corev1.Namespace, error) {
	list, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: poolSelector(workshop.PoolKey(id), state)})
	if err != nil {
		return nil, fmt.Errorf("list the warm pool of %s: %w", id, err)
	}
	out := list.Items[:0]
	for _, ns := range list.Items {
		if ns.DeletionTimestamp == nil && ns.Annotations[annotationTemplateID] == id {
			out = append(out, ns)
		}
	}
	return out, nil
}

// poolFillingGrace is how long an entry may take to start before a resize counts it as
// the remnant of a start cut short and removes it.
const poolFillingGrace = 15 * time.Minute

// ResizePool starts the missing free entries of t's pool and removes the surplus.
func (b *Backend) ResizePool(ctx context.Context, t *workshop.Template, n, parallel int) (_ workshop.PoolStatus, err error) {
	defer workshop.Hold()()
	defer func() { err = forbidden(err) }()
	if t == nil || t.ID == "" {
		return workshop.PoolStatus{}, errors.New("resize pool: no sealed template given")
	}
	if n < 0 || n > workshop.MaxWarmPool {
		return workshop.PoolStatus{}, fmt.Errorf("resize pool of %s: size %d is outside 0..%d", t.ID, n, workshop.MaxWarmPool)
	}
	parallel = max(parallel, 1)
	entries, err := b.poolEntries(ctx, t.ID, workshop.PoolFree)
	if err != nil {
		return workshop.PoolStatus{}, err
	}
	var ready, filling, stale []corev1.Namespace
	for _, ns := range entries {
		switch {
		case ns.Labels[workshop.LabelCreating] == "":
			ready = append(ready, ns)
		case time.Since(ns.CreationTimestamp.Time) > poolFillingGrace:
			stale = append(stale, ns) // a start cut short (its process died)
		default:
			filling = append(filling, ns)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	var errs errorList
	for range max(n-len(ready)-len(filling), 0) {
		g.Go(func() error {
			errs.add(b.createPoolEntry(gctx, t))
			return nil
		})
	}
	surplus := ready
	if n > 0 {
		surplus = nil
		if len(ready) > n {
			surplus = ready[n:]
		}
	} else {
		surplus = append(surplus, filling...) // the template goes: every free entry with it
	}
	for _, ns := range append(surplus, stale...) {
		g.Go(func() error {
			errs.add(b.drainEntry(gctx, &ns))
			return nil
		})
	}
	_ = g.Wait()
	st, serr := b.poolStatus(ctx, t.ID)
	st.TemplateName, st.Size = t.Name, n
	return st, errors.Join(errs.err(), serr)
}

// errorList collects errors from parallel steps.
type errorList struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorList) add(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorList) err() error { return errors.Join(l.errs...) }

// createPoolEntry starts one free entry of t's pool and waits until it is ready; on
// failure it removes what it created.
func (b *Backend) createPoolEntry(ctx context.Context, t *workshop.Template) error {
	spec := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: t, CreatedAt: time.Now().UTC(), Pool: workshop.PoolFree}
	defer b.reads.change(spec.ID)()
	unlock := b.lockSession(spec.ID)
	defer unlock()
	if isVCluster(spec) {
		return b.createVClusterPoolEntry(ctx, spec)
	}
	res, err := checkSpec(spec)
	if err != nil {
		return err
	}
	objs, err := decodeManifests(t.Manifests)
	if err != nil {
		return fmt.Errorf("pool entry of %s: %w", t.ID, err)
	}
	_, err = createdOrCleaned(ctx, spec.ID, nil, b.createNamespaceEntry(ctx, spec, res, objs), b.removeNamespace)
	return err
}

func (b *Backend) createNamespaceEntry(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources, objs []*unstructured.Unstructured) error {
	quota, err := b.createSessionBase(ctx, spec, res)
	if err != nil {
		return err
	}
	_, err = b.finishSession(ctx, workshop.SessionObjectName(spec.ID), spec.Labels(), quota, nil, objs)
	return err
}

// drainEntry removes a free entry unless a claimer took it first (the label flip to
// "draining" carries the resourceVersion the entry was listed with).
func (b *Backend) drainEntry(ctx context.Context, ns *corev1.Namespace) error {
	d := ns.DeepCopy()
	d.Labels[workshop.LabelPool] = workshop.PoolDraining
	if _, err := b.cs.CoreV1().Namespaces().Update(ctx, d, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // claimed (or removed) meanwhile
		}
		return fmt.Errorf("drain pool entry %s: %w", ns.Name, err)
	}
	id := ns.Labels[workshop.LabelSession]
	defer b.reads.change(id)()
	return b.removeSessionObjects(ctx, id)
}

// ClaimPooled claims a free entry of spec.Template's pool for spec.
func (b *Backend) ClaimPooled(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	defer workshop.Hold()()
	if spec == nil || spec.Template == nil {
		return nil, errors.New("claim pool entry: no spec or template given")
	}
	entries, err := b.poolEntries(ctx, spec.Template.ID, workshop.PoolFree)
	if err != nil {
		return nil, err
	}
	// Claimers start at random places, so that a class claiming at once rarely collides.
	rand.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	for i := range entries {
		ns := &entries[i]
		if ns.Labels[workshop.LabelCreating] != "" {
			continue
		}
		id := ns.Labels[workshop.LabelSession]
		if workshop.ValidateSessionID(id) != nil {
			continue
		}
		claim := *spec
		claim.ID = id
		won, err := b.claimNamespace(ctx, ns, &claim)
		if err != nil {
			return nil, err
		}
		if !won {
			continue
		}
		return b.finishClaim(ctx, &claim)
	}
	return nil, nil
}

// claimNamespace flips one entry's namespace to claimed for spec (participant, expiry,
// "creating" until the claim completes); false when another claimer won.
func (b *Backend) claimNamespace(ctx context.Context, ns *corev1.Namespace, spec *workshop.SessionSpec) (bool, error) {
	c := ns.DeepCopy()
	for k, v := range spec.Labels() {
		c.Labels[k] = v
	}
	c.Labels[workshop.LabelPool] = workshop.PoolClaimed
	c.Labels[workshop.LabelCreating] = "true"
	setParticipantAnnotations(c.Annotations, spec)
	if isVCluster(spec) {
		res, err := checkVClusterSpec(spec)
		if err != nil {
			return false, err
		}
		setResourceAnnotations(c.Annotations, res)
	}
	// A claim cut short by ctx must not leave the namespace half-claimed unknown to the
	// caller: the update runs on its own context, and the caller's ends the claim after.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	defer cancel()
	_, err := b.cs.CoreV1().Namespaces().Update(uctx, c, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim pool entry %s: %w", ns.Name, err)
	}
	return true, nil
}

// finishClaim makes a claimed entry spec's session: its quota and limit range sized for
// spec, every object relabelled, fresh credentials and the workspace, the template's
// objects applied again (with the session's labels) and ready. On failure the entry is
// removed.
func (b *Backend) finishClaim(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	defer b.reads.change(spec.ID)()
	unlock := b.lockSession(spec.ID)
	defer unlock()
	if isVCluster(spec) {
		return b.finishVClusterClaim(ctx, spec)
	}
	res, err := checkSpec(spec)
	if err != nil {
		return createdOrCleaned(ctx, spec.ID, nil, err, b.removeNamespace)
	}
	objs, err := decodeManifests(spec.Template.Manifests)
	if err != nil {
		return createdOrCleaned(ctx, spec.ID, nil, err, b.removeNamespace)
	}
	s, err := b.claimNamespaceEntry(ctx, spec, res, objs)
	return createdOrCleaned(ctx, spec.ID, s, err, b.removeNamespace)
}

func (b *Backend) claimNamespaceEntry(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources, objs []*unstructured.Unstructured) (*workshop.Session, error) {
	ns := workshop.SessionObjectName(spec.ID)
	labels := spec.Labels()
	quota, err := b.resizeAndRelabel(ctx, ns, labels, quotaSpec(res), res)
	if err != nil {
		return nil, err
	}
	secret, err := b.createAccess(ctx, spec, res)
	if err != nil {
		return nil, err
	}
	return b.finishSession(ctx, ns, labels, quota, secret, objs)
}

// resizeAndRelabel gives a claimed entry's quota and limit range the session's sizes and
// every host object of the entry (quota, limit range, network policies, role and
// binding, and a vcluster's Helm-made objects' namespace) the session's labels, the pool
// labels removed.
func (b *Backend) resizeAndRelabel(ctx context.Context, ns string, labels map[string]string, quota corev1.ResourceQuotaSpec,
	res workshop.ParsedResources) (*corev1.ResourceQuota, error) {
	core := b.cs.CoreV1()
	update := metav1.UpdateOptions{FieldManager: fieldManager}
	relabel := func(l map[string]string) map[string]string {
		out := workshop.WithLabels(l)
		delete(out, workshop.LabelPool)
		delete(out, workshop.LabelPoolKey)
		for k, v := range labels {
			out[k] = v
		}
		return out
	}
	q, err := core.ResourceQuotas(ns).Get(ctx, quotaName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read resource quota: %w", err)
	}
	q.Labels, q.Spec = relabel(q.Labels), quota
	if q, err = core.ResourceQuotas(ns).Update(ctx, q, update); err != nil {
		return nil, fmt.Errorf("resize resource quota: %w", err)
	}
	lr, err := core.LimitRanges(ns).Get(ctx, limitRangeName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read limit range: %w", err)
	}
	lr.Labels, lr.Spec = relabel(lr.Labels), limitRangeSpec(res)
	if _, err := core.LimitRanges(ns).Update(ctx, lr, update); err != nil {
		return nil, fmt.Errorf("resize limit range: %w", err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labelPatch(labels)}})
	opts := metav1.PatchOptions{FieldManager: fieldManager}
	nps, err := b.cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list network policies: %w", err)
	}
	for _, np := range nps.Items {
		if _, err := b.cs.NetworkingV1().NetworkPolicies(ns).Patch(ctx, np.Name, types.MergePatchType, patch, opts); err != nil {
			return nil, fmt.Errorf("relabel network policy %s: %w", np.Name, err)
		}
	}
	if _, err := b.cs.RbacV1().Roles(ns).Patch(ctx, participantRole, types.MergePatchType, patch, opts); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("relabel role: %w", err)
	}
	if _, err := b.cs.RbacV1().RoleBindings(ns).Patch(ctx, participantRole, types.MergePatchType, patch, opts); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("relabel role binding: %w", err)
	}
	if _, err := core.ServiceAccounts(ns).Patch(ctx, participantSA, types.MergePatchType, patch, opts); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("relabel service account: %w", err)
	}
	return q, nil
}

// labelPatch is a merge patch's labels: labels set, the pool's removed.
func labelPatch(labels map[string]string) map[string]any {
	p := map[string]any{workshop.LabelPool: nil, workshop.LabelPoolKey: nil}
	for k, v := range labels {
		p[k] = v
	}
	return p
}

// Pools reports the pools of the stored templates with warm_pool > 0 and of every
// template that still has entries; with template IDs, only those templates' (a list of
// their entries by pool key and a read of each stored template, not of every pool).
func (b *Backend) Pools(ctx context.Context, templateIDs ...string) (_ []workshop.PoolStatus, err error) {
	defer func() { err = forbidden(err) }()
	var entries []corev1.Namespace
	var templates []*workshop.Template
	if len(templateIDs) == 0 {
		list, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: poolSelector("", "")})
		if err != nil {
			return nil, fmt.Errorf("list warm pool entries: %w", err)
		}
		entries = list.Items
		if templates, err = b.PooledTemplates(ctx); err != nil {
			return nil, err
		}
	}
	for _, id := range templateIDs {
		es, err := b.poolEntries(ctx, id, "")
		if err != nil {
			return nil, err
		}
		entries = append(entries, es...)
		switch t, err := b.GetTemplate(ctx, id); {
		case err == nil && t.WarmPool > 0:
			templates = append(templates, t)
		case err != nil && !errors.Is(err, workshop.ErrNotFound):
			return nil, err
		}
	}
	byID := map[string]*workshop.PoolStatus{}
	get := func(id, name string) *workshop.PoolStatus {
		st := byID[id]
		if st == nil {
			st = &workshop.PoolStatus{TemplateID: id, TemplateName: name}
			byID[id] = st
		}
		return st
	}
	for i := range entries {
		ns := &entries[i]
		if ns.DeletionTimestamp != nil {
			continue
		}
		countEntry(get(ns.Annotations[annotationTemplateID], ns.Labels[workshop.LabelTemplate]), ns)
	}
	for _, t := range templates {
		get(t.ID, t.Name).Size = t.WarmPool
	}
	out := make([]workshop.PoolStatus, 0, len(byID))
	for _, st := range byID {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TemplateID < out[j].TemplateID })
	return out, nil
}

func countEntry(st *workshop.PoolStatus, ns *corev1.Namespace) {
	switch ns.Labels[workshop.LabelPool] {
	case workshop.PoolFree:
		if ns.Labels[workshop.LabelCreating] != "" {
			st.Filling++
		} else {
			st.Free++
		}
	case workshop.PoolClaimed:
		st.Claimed++
	case workshop.PoolCold:
		st.Cold++
	}
}

// poolStatus counts one template's pool.
func (b *Backend) poolStatus(ctx context.Context, id string) (workshop.PoolStatus, error) {
	st := workshop.PoolStatus{TemplateID: id}
	entries, err := b.poolEntries(ctx, id, "")
	if err != nil {
		return st, err
	}
	for i := range entries {
		countEntry(&st, &entries[i])
	}
	return st, nil
}

// PooledTemplates reads the stored templates with warm_pool > 0.
func (b *Backend) PooledTemplates(ctx context.Context) (_ []*workshop.Template, err error) {
	defer func() { err = forbidden(err) }()
	list, err := b.cs.CoreV1().ConfigMaps(b.cfg.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: workshop.LabelRole + "=" + workshop.RoleTemplate + "," + workshop.LabelBackend + "=" + string(workshop.InfraKubernetes)})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list stored templates: %w", err)
	}
	var out []*workshop.Template
	for _, cm := range list.Items {
		t := new(workshop.Template)
		if json.Unmarshal([]byte(cm.Data[templateDataKey]), t) == nil && t.ID != "" && t.WarmPool > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// annotationPoolsRefilled on the reconcilers' Lease is when the leader last refilled
// every pool (RFC 3339).
const annotationPoolsRefilled = workshop.LabelPrefix + "pools-refilled-at"

// poolsRefilledFresh is how recent that refill must be for the provider to rely on it.
const poolsRefilledFresh = 10 * time.Minute

// ReconcilerRefills reads the reconcilers' Lease: fresh (renewed within its duration)
// and annotated with a recent refill means a leader refills the pools. A reconciler
// without the rights to start entries (the least-privilege role) never annotates it,
// and the provider keeps filling them.
func (b *Backend) ReconcilerRefills(ctx context.Context) bool {
	l, err := b.cs.CoordinationV1().Leases(b.cfg.Namespace).Get(ctx, DefaultLeaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || l.Spec.RenewTime == nil {
		return false
	}
	d := DefaultLeaseDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	refilled, err := time.Parse(time.RFC3339, l.Annotations[annotationPoolsRefilled])
	return time.Since(l.Spec.RenewTime.Time) < d && err == nil && time.Since(refilled) < poolsRefilledFresh
}

// MarkPoolsRefilled annotates the reconcilers' Lease with the time (an Update: the
// least-privilege role may get and update its Lease, not patch it).
func (b *Backend) MarkPoolsRefilled(ctx context.Context) error {
	leases := b.cs.CoordinationV1().Leases(b.cfg.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(ctx, DefaultLeaseName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		l.Annotations[annotationPoolsRefilled] = time.Now().UTC().Format(time.RFC3339)
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

// drainPool removes every free entry of template id (DeleteTemplate).
func (b *Backend) drainPool(ctx context.Context, id string) error {
	_, err := b.ResizePool(ctx, &workshop.Template{ID: id}, 0, 8)
	return err
}

// poolFigures adds the free entries' reservations to info (Ping): quotas labelled
// nalabo.io/pool=free.
func poolFigures(info *workshop.Info, q *corev1.ResourceQuota) {
	if q.Labels[workshop.LabelPool] != workshop.PoolFree {
		return
	}
	info.PoolFree++
	if c, ok := q.Spec.Hard[corev1.ResourceRequestsCPU]; ok {
		info.PoolFreeMilliCPU += c.MilliValue()
	}
	if m, ok := q.Spec.Hard[corev1.ResourceRequestsMemory]; ok {
		info.PoolFreeMemory += m.Value()
	}
	info.Details["pool_free"] = strconv.Itoa(info.PoolFree)
}

// forbidden marks the API server's refusal (RBAC) with workshop.ErrForbidden.
func forbidden(err error) error {
	if err != nil && apierrors.IsForbidden(err) {
		return fmt.Errorf("%w: %w", workshop.ErrForbidden, err)
	}
	return err
}
