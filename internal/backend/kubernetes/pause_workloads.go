package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Stopping a namespace session stops the template's own workloads too (issue 17: "the
// containers stopped or scaled to zero, the data kept"): the Deployments, StatefulSets
// and ReplicaSets of the namespace that no other object owns are scaled to zero, and
// its bare pods (no owner, still running) other than the workspace are deleted. What
// they were is recorded first in the namespace's annotation nalabo.io/stopped-workloads
// (the participant cannot change their namespace), so that a stop cut short is finished
// by the next stop or undone by the next start, and a start puts back exactly what the
// stop took away. The workloads stop before the workspace pod and start before it: a
// session reads stopped only once everything stopped, and running only once its
// workloads run again.

// annotationStoppedWorkloads holds what a stop scaled down or deleted (stoppedWorkloads, JSON).
const annotationStoppedWorkloads = workshop.LabelPrefix + "stopped-workloads"

// stoppedWorkloads is the record of a stop: each scaled workload's replicas before the
// stop, by "Kind/name", and the bare pods deleted (as podTemplate keeps them).
type stoppedWorkloads struct {
	Replicas map[string]int64 `json:"replicas,omitempty"`
	Pods     []*corev1.Pod    `json:"pods,omitempty"`
}

// scaledKind is a kind of workload that a stop scales to zero (by its scale subresource).
type scaledKind struct {
	kind string
	gvr  schema.GroupVersionResource
}

var scaledKinds = []scaledKind{
	{"Deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}},
	{"StatefulSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}},
	{"ReplicaSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}},
}

func scaledKindOf(kind string) (scaledKind, bool) {
	for _, k := range scaledKinds {
		if k.kind == kind {
			return k, true
		}
	}
	return scaledKind{}, false
}

// readStoppedWorkloads reads ns's record (empty without one).
func readStoppedWorkloads(ns *corev1.Namespace) (*stoppedWorkloads, error) {
	rec := &stoppedWorkloads{Replicas: map[string]int64{}}
	raw := ns.Annotations[annotationStoppedWorkloads]
	if raw == "" {
		return rec, nil
	}
	if err := json.Unmarshal([]byte(raw), rec); err != nil {
		return nil, fmt.Errorf("the stopped workloads kept in %s are unreadable: %w", annotationStoppedWorkloads, err)
	}
	if rec.Replicas == nil {
		rec.Replicas = map[string]int64{}
	}
	return rec, nil
}

// replicasOf is a workload's spec.replicas (the API defaults it to 1).
func replicasOf(u *unstructured.Unstructured) int64 {
	n, found, err := unstructured.NestedInt64(u.Object, "spec", "replicas")
	if !found || err != nil {
		return 1
	}
	return n
}

// stopWorkloads scales ns's unowned Deployments, StatefulSets and ReplicaSets to zero and
// deletes its running bare pods other than the workspace, recording them first, and
// waits until their pods are gone. Workloads already recorded keep their recorded
// replicas (a stop cut short and done again finds them at zero). Nothing to stop: no
// record, no write.
func (b *Backend) stopWorkloads(ctx context.Context, ns *corev1.Namespace) error {
	rec, err := readStoppedWorkloads(ns)
	if err != nil {
		return err
	}
	changed := false
	live := map[string]*unstructured.Unstructured{}
	for _, k := range scaledKinds {
		list, err := b.dyn.Resource(k.gvr).Namespace(ns.Name).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list %ss: %w", strings.ToLower(k.kind), err)
		}
		for i := range list.Items {
			u := &list.Items[i]
			if len(u.GetOwnerReferences()) > 0 || u.GetDeletionTimestamp() != nil {
				continue // a Deployment's ReplicaSet: its owner is scaled
			}
			key := k.kind + "/" + u.GetName()
			live[key] = u
			if _, ok := rec.Replicas[key]; !ok && replicasOf(u) > 0 {
				rec.Replicas[key], changed = replicasOf(u), true
			}
		}
	}
	pods, err := b.cs.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	saved := map[string]bool{}
	for _, p := range rec.Pods {
		saved[p.Name] = true
	}
	var bare []corev1.Pod
	for _, p := range pods.Items {
		if p.Name == workspacePodName || len(p.OwnerReferences) > 0 || p.DeletionTimestamp != nil ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue // finished pods hold nothing: they stay as they are
		}
		bare = append(bare, p)
		if !saved[p.Name] {
			rec.Pods, changed = append(rec.Pods, podTemplate(&p)), true
		}
	}
	if changed {
		cur, err := b.writeStoppedWorkloads(ctx, ns.Name, rec)
		if err != nil {
			return err
		}
		*ns = *cur // the caller updates it next (the workspace's record): no conflict with ours
	}

	// Scale down, then wait until the controllers saw it (kstatus Current at zero
	// replicas: their pods are all being deleted) and the pods are gone.
	var scaled []*unstructured.Unstructured
	for _, key := range sortedKeys(rec.Replicas) {
		u, ok := live[key]
		if !ok {
			continue // deleted since
		}
		k, _ := scaledKindOf(u.GetKind())
		if replicasOf(u) != 0 {
			if err := b.scaleWorkload(ctx, ns.Name, k, u.GetName(), 0); err != nil {
				return err
			}
		}
		scaled = append(scaled, u)
	}
	for _, p := range bare {
		if err := b.cs.CoreV1().Pods(ns.Name).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s: %w", p.Name, err)
		}
	}
	if err := b.waitReady(ctx, scaled); err != nil {
		return fmt.Errorf("scale to zero: %w", err)
	}
	left, err := b.cs.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	podsRI := b.dyn.Resource(podsGVR).Namespace(ns.Name)
	for _, p := range left.Items {
		if p.Name == workspacePodName || p.DeletionTimestamp == nil {
			continue // the workspace is the caller's; a pod not being deleted is no workload's now
		}
		if err := waitGoneWatch(ctx, podsRI, p.Name, p.UID); err != nil {
			return fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
	return nil
}

// startWorkloads undoes stopWorkloads: it scales each recorded workload that is still at
// zero back to its recorded replicas, re-creates the recorded bare pods, waits until all
// of them are ready and then drops the record. Without a record it does nothing; an
// expired session is not started (unless its expiry is paused, as in startSession).
func (b *Backend) startWorkloads(ctx context.Context, ns *corev1.Namespace) error {
	rec, err := readStoppedWorkloads(ns)
	if err != nil || ns.Annotations[annotationStoppedWorkloads] == "" {
		return err
	}
	exp, hasExpiry := workshop.ParseExpiresAt(ns.Labels)
	if _, paused := workshop.ParseStoppedAt(ns.Labels); hasExpiry && time.Now().After(exp) && !paused {
		return fmt.Errorf("it expired at %s; extend its duration to resume it", exp.UTC().Format(time.RFC3339))
	}
	var objs []*unstructured.Unstructured
	for _, key := range sortedKeys(rec.Replicas) {
		kind, name, _ := strings.Cut(key, "/")
		k, ok := scaledKindOf(kind)
		if !ok {
			continue
		}
		u, err := b.dyn.Resource(k.gvr).Namespace(ns.Name).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue // deleted while stopped
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", kind, name, err)
		}
		// The record is the namespace's (the participant cannot write it), and the
		// namespace's quota bounds what the replicas may run anyway; maxPods bounds the wait.
		if want := min(rec.Replicas[key], maxPods); replicasOf(u) == 0 && want > 0 {
			if err := b.scaleWorkload(ctx, ns.Name, k, name, want); err != nil {
				return err
			}
		}
		objs = append(objs, u)
	}
	for _, p := range rec.Pods {
		pod := p.DeepCopy()
		pod.Namespace, pod.ResourceVersion, pod.UID = ns.Name, "", ""
		if _, err := b.cs.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create pod %s: %w", pod.Name, err)
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("Pod")
		u.SetName(pod.Name)
		u.SetNamespace(ns.Name)
		objs = append(objs, u)
	}
	if err := b.waitReady(ctx, objs); err != nil {
		return err
	}
	patch := []byte(`{"metadata":{"annotations":{"` + annotationStoppedWorkloads + `":null}}}`)
	cur, err := b.cs.CoreV1().Namespaces().Patch(ctx, ns.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	*ns = *cur // the caller may update it next (a paused expiry): no conflict with ours
	return nil
}

// writeStoppedWorkloads records rec in namespace ns (an update, the verb the
// reconciler's role has, read again on a conflict) and returns the namespace written.
func (b *Backend) writeStoppedWorkloads(ctx context.Context, ns string, rec *stoppedWorkloads) (*corev1.Namespace, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	namespaces := b.cs.CoreV1().Namespaces()
	var out *corev1.Namespace
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := namespaces.Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read namespace: %w", err)
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[annotationStoppedWorkloads] = string(raw)
		out, err = namespaces.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager})
		if err != nil {
			return fmt.Errorf("namespace: %w", err)
		}
		return nil
	})
	return out, err
}

// scaleWorkload sets a workload's replicas through its scale subresource (the verb:
// patch on deployments/scale and the like).
func (b *Backend) scaleWorkload(ctx context.Context, ns string, k scaledKind, name string, replicas int64) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	_, err := b.dyn.Resource(k.gvr).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: fieldManager}, "scale")
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("scale %s %s to %d: %w", k.kind, name, replicas, err)
	}
	return nil
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
