package kubernetes

import (
	"context"
	"fmt"

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
	for _, n := range nodes.Items {
		info.AllocatableMilliCPU += n.Status.Allocatable.Cpu().MilliValue()
		info.AllocatableMemory += n.Status.Allocatable.Memory().Value()
	}
	info.Details["nodes"] = fmt.Sprint(len(nodes.Items))
	quotas, err := b.cs.CoreV1().ResourceQuotas("").List(ctx, metav1.ListOptions{LabelSelector: sessionSelector()})
	if err != nil {
		return nil, fmt.Errorf("list session quotas: %w", err)
	}
	for _, q := range quotas.Items {
		if c, ok := q.Spec.Hard["requests.cpu"]; ok {
			info.UsedMilliCPU += c.MilliValue()
		}
		if m, ok := q.Spec.Hard["requests.memory"]; ok {
			info.UsedMemory += m.Value()
		}
	}
	info.Sessions = len(quotas.Items)
	return info, nil
}
