package swarm

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// UpdateSession changes the limits (and reservations) through a service update, and
// the expiry through the service's label. A resource change makes Swarm replace the
// task (its workspace volume stays, on the same node unless placement moves it); the
// update waits until the new task runs. A label-only change restarts nothing.
func (b *Backend) UpdateSession(ctx context.Context, id string, spec *workshop.SessionSpec) (*workshop.Session, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	if spec == nil {
		return nil, fmt.Errorf("update session %s: no spec given", id)
	}
	res, err := effectiveResources(spec).Parse()
	if err != nil {
		return nil, fmt.Errorf("update session %s: resources: %w", id, err)
	}
	var resourcesChanged bool
	err = b.updateService(ctx, id, func(s *swarm.ServiceSpec) {
		if !spec.ExpiresAt.IsZero() {
			s.Labels[workshop.LabelExpiresAt] = strconv.FormatInt(spec.ExpiresAt.Unix(), 10)
		}
		s.Labels[LabelCPU] = workshop.FormatMilliCPU(res.MilliCPU)
		s.Labels[LabelMemory] = workshop.FormatBytes(res.MemoryBytes)
		r := s.TaskTemplate.Resources
		if r == nil || r.Limits == nil || r.Reservations == nil {
			r = &swarm.ResourceRequirements{Limits: &swarm.Limit{Pids: b.cfg.PidsLimit}, Reservations: &swarm.Resources{}}
			s.TaskTemplate.Resources = r
		}
		cpu, mem := res.MilliCPU*1e6, res.MemoryBytes
		resourcesChanged = r.Limits.NanoCPUs != cpu || r.Limits.MemoryBytes != mem
		r.Limits.NanoCPUs, r.Limits.MemoryBytes = cpu, mem
		r.Reservations.NanoCPUs, r.Reservations.MemoryBytes = cpu, mem
	})
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	if resourcesChanged {
		cpu, mem := res.MilliCPU*1e6, res.MemoryBytes
		err := b.waitTask(ctx, id, workshop.SessionObjectName(id), func(t swarm.Task) bool {
			r := t.Spec.Resources
			return r != nil && r.Limits != nil && r.Limits.NanoCPUs == cpu && r.Limits.MemoryBytes == mem
		})
		if err != nil {
			return nil, fmt.Errorf("update session %s: %w", id, err)
		}
	}
	return b.GetSession(ctx, id)
}
