package swarm

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Ping checks that the engine is a Swarm manager and reports the cluster: the ready
// nodes' CPU and memory, what session services reserve, the session count.
func (b *Backend) Ping(ctx context.Context) (*workshop.Info, error) {
	v, err := b.cli.ServerVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("swarm manager at %s: %w", b.cfg.Host, err)
	}
	if _, err := b.self(ctx); err != nil {
		return nil, err
	}
	nodes, err := b.cli.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list swarm nodes: %w", err)
	}
	info := &workshop.Info{
		Type: workshop.InfraSwarm, Endpoint: b.cfg.Host, ServerVersion: v.Version, APIVersion: b.cli.ClientVersion(),
		Details: map[string]string{"nodes": strconv.Itoa(len(nodes))},
	}
	ready := 0
	for _, n := range nodes {
		if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
			continue
		}
		ready++
		info.AllocatableMilliCPU += n.Description.Resources.NanoCPUs / 1e6
		info.AllocatableMemory += n.Description.Resources.MemoryBytes
	}
	info.Details["ready_nodes"] = strconv.Itoa(ready)
	f := filters.NewArgs(filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue),
		filters.Arg("label", workshop.LabelBackend+"="+string(workshop.InfraSwarm)))
	services, err := b.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list session services: %w", err)
	}
	for _, s := range services {
		info.Sessions++
		if r := s.Spec.TaskTemplate.Resources; r != nil && r.Reservations != nil {
			info.UsedMilliCPU += r.Reservations.NanoCPUs / 1e6
			info.UsedMemory += r.Reservations.MemoryBytes
		}
	}
	if tc, err := b.templateConfigs(ctx); err == nil {
		info.Details["templates"] = strconv.Itoa(len(tc))
	}
	return info, nil
}
