package kubernetes

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Ping reads the server version, the nodes' allocatable CPU and memory, and what the
// sessions' quotas reserve.
func (b *Backend) Ping(ctx context.Context) (*workshop.Info, error) {
	v, err := b.cs.Discovery().ServerVersion()
	if apierrors.IsUnauthorized(err) {
		// Reachable, but the credentials are wrong: say so, the fix is not the address.
		return nil, fmt.Errorf("kubernetes API at %s refused the credentials (401 Unauthorized: a wrong or expired token, "+
			"or a client certificate it does not trust): %w", b.rest.Host, err)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes API at %s: %w", b.rest.Host, err)
	}
	info := &workshop.Info{
		Type: workshop.InfraKubernetes, Endpoint: b.rest.Host,
		ServerVersion: v.GitVersion, APIVersion: v.Major + "." + v.Minor,
		Details: map[string]string{"platform": v.Platform},
	}
	nodes, err := b.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	schedulable := 0
	info.AllocatableGPUs, info.UsedGPUs = map[string]int64{}, map[string]int64{}
	for _, n := range nodes.Items {
		if !n.Spec.Unschedulable {
			// GPU nodes are often tainted for GPU pods only; a template's tolerations
			// reach them, so their GPUs count whatever their taints.
			nodeGPUs(info.AllocatableGPUs, n.Status.Allocatable)
		}
		if !sessionSchedulable(&n) {
			continue // cordoned, or tainted against pods without tolerations (sessions')
		}
		schedulable++
		info.AllocatableMilliCPU += n.Status.Allocatable.Cpu().MilliValue()
		info.AllocatableMemory += n.Status.Allocatable.Memory().Value()
	}
	info.Details["nodes"] = fmt.Sprint(len(nodes.Items))
	info.Details["schedulable_nodes"] = fmt.Sprint(schedulable)
	info.Details["capacity_source"] = "nodes' allocatable"
	if err := b.controlQuota(ctx, info); err != nil {
		return nil, err
	}
	quotas, err := b.cs.CoreV1().ResourceQuotas("").List(ctx, metav1.ListOptions{LabelSelector: sessionSelector()})
	if err != nil {
		return nil, fmt.Errorf("list session quotas: %w", err)
	}
	stopped, err := b.stoppedNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range quotas.Items {
		poolFigures(info, &q)
		reserved := q.Spec.Hard
		if stopped[q.Namespace] {
			// Its workspace pod is deleted: only the template's workloads, which keep
			// running, still request capacity (the quota's used figures).
			info.StoppedSessions++
			reserved = q.Status.Used
		}
		if c, ok := reserved[corev1.ResourceRequestsCPU]; ok {
			info.UsedMilliCPU += c.MilliValue()
		}
		if m, ok := reserved[corev1.ResourceRequestsMemory]; ok {
			info.UsedMemory += m.Value()
		}
		if n, name := gpusFromQuota(&q); n != "" && q.Labels[workshop.LabelPool] != workshop.PoolFree {
			// A free warm pool entry's GPU goes to the session that claims it; a stopped
			// session's was released with its workspace pod.
			c, _ := strconv.ParseInt(n, 10, 64)
			if stopped[q.Namespace] {
				u := q.Status.Used[requestsOf(name)]
				c = u.Value()
			}
			info.UsedGPUs[name] += c
		}
	}
	// Free warm pool entries reserve capacity (Used*) but are nobody's session yet.
	info.Sessions = len(quotas.Items) - info.PoolFree
	return info, nil
}

// stoppedNamespaces names the session namespaces of stopped persistent sessions
// (StopSession's annotation). An identity that may not list namespaces (the gateway's
// least privilege: /readyz pings) finds none: their quotas count whole, as if running.
func (b *Backend) stoppedNamespaces(ctx context.Context) (map[string]bool, error) {
	list, err := b.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sessionSelector()})
	if apierrors.IsForbidden(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list session namespaces: %w", err)
	}
	out := map[string]bool{}
	for i := range list.Items {
		if isStopped(&list.Items[i]) {
			out[list.Items[i].Name] = true
		}
	}
	return out, nil
}

// sessionSchedulable reports whether session pods (no tolerations) can run on a node.
func sessionSchedulable(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	return true
}

// controlQuota lowers the capacity to the control namespace's ResourceQuota on requests
// when one is set and tighter than the nodes: an administrator's budget for the
// provider's classes (sessions live in their own namespaces, so Kubernetes does not
// enforce it on them; the class admission does). A quota the provider cannot read is
// no budget.
func (b *Backend) controlQuota(ctx context.Context, info *workshop.Info) error {
	quotas, err := b.cs.CoreV1().ResourceQuotas(b.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list the resource quotas of the control namespace %s: %w", b.cfg.Namespace, err)
	}
	for _, q := range quotas.Items {
		if q.Labels[workshop.LabelSession] != "" {
			continue
		}
		tighter := false
		for _, name := range []corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourceCPU} {
			if c, ok := q.Spec.Hard[name]; ok && (c.MilliValue() < info.AllocatableMilliCPU || info.AllocatableMilliCPU == 0) {
				info.AllocatableMilliCPU, tighter = c.MilliValue(), true
			}
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceRequestsMemory, corev1.ResourceMemory} {
			if m, ok := q.Spec.Hard[name]; ok && (m.Value() < info.AllocatableMemory || info.AllocatableMemory == 0) {
				info.AllocatableMemory, tighter = m.Value(), true
			}
		}
		if tighter {
			info.Details["capacity_source"] = "ResourceQuota " + b.cfg.Namespace + "/" + q.Name
		}
	}
	return nil
}
