package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.StatsReader = (*Backend)(nil)

// podMetricsList is the part of metrics.k8s.io/v1beta1 PodMetricsList read here (the
// API is read raw, so that no metrics client is needed).
type podMetricsList struct {
	Items []struct {
		Timestamp  metav1.Time `json:"timestamp"`
		Containers []struct {
			Usage map[string]resource.Quantity `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

// SessionStats sums the current CPU and memory usage of the pods in the session's
// namespace from the metrics API (metrics.k8s.io, served by metrics-server). Without
// that API it returns an error wrapping workshop.ErrStatsUnavailable. The metrics API
// has no network figures: HasNetwork is false.
func (b *Backend) SessionStats(ctx context.Context, id string) (*workshop.SessionStats, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	name := workshop.SessionObjectName(id)
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && ns.Labels[workshop.LabelSession] != id) {
		return nil, fmt.Errorf("stats of session %s: no namespace %s: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("stats of session %s: read namespace %s: %w", id, name, err)
	}
	raw, err := b.cs.CoreV1().RESTClient().Get().
		AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces", name, "pods").
		DoRaw(ctx)
	if apierrors.IsNotFound(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("stats of session %s: metrics.k8s.io: %v: %w", id, err, workshop.ErrStatsUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("stats of session %s: metrics.k8s.io: %w", id, err)
	}
	var list podMetricsList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("stats of session %s: decode pod metrics: %w", id, err)
	}
	out := &workshop.SessionStats{At: time.Now().UTC(), HasCPUMilli: true}
	for _, p := range list.Items {
		out.Containers++
		if !p.Timestamp.IsZero() && p.Timestamp.Time.After(out.At) {
			out.At = p.Timestamp.UTC()
		}
		for _, c := range p.Containers {
			if q, ok := c.Usage["cpu"]; ok {
				out.CPUMilli += float64(q.ScaledValue(resource.Nano)) / 1e6
			}
			if q, ok := c.Usage["memory"]; ok {
				out.MemoryBytes += q.Value()
			}
		}
	}
	return out, nil
}
