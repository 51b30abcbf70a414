package swarm

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// GetSession reads a session by its service and network. A session whose service or
// network is gone is ErrNotFound (Terraform plans a re-creation).
func (b *Backend) GetSession(ctx context.Context, id string) (*workshop.Session, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	name := workshop.SessionObjectName(id)
	svc, _, err := b.cli.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
	if docker.IsNotFound(err) {
		return nil, fmt.Errorf("session %s: no service %s on the swarm: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read session %s: inspect service %s: %w", id, name, err)
	}
	if svc.Spec.Labels[workshop.LabelSession] != id || svc.Spec.Labels[workshop.LabelManagedBy] != workshop.ManagedByValue {
		return nil, fmt.Errorf("session %s: service %s is not a nalabo session's: %w", id, name, workshop.ErrNotFound)
	}
	netName := b.networkName(id)
	if _, err := b.cli.NetworkInspect(ctx, netName, network.InspectOptions{}); err != nil {
		if docker.IsNotFound(err) {
			return nil, fmt.Errorf("session %s: its overlay network %s is gone: %w", id, netName, workshop.ErrNotFound)
		}
		return nil, fmt.Errorf("read session %s: inspect network %s: %w", id, netName, err)
	}
	s := sessionFromService(svc, netName)
	s.Status = b.taskStatus(ctx, svc)
	return s, nil
}

// sessionFromService builds a session from its service's labels and spec.
func sessionFromService(svc swarm.Service, netName string) *workshop.Session {
	l := svc.Spec.Labels
	s := &workshop.Session{
		ID:             l[workshop.LabelSession],
		Infrastructure: workshop.InfraSwarm,
		TemplateID:     l[workshop.LabelTemplateID],
		TemplateName:   l[workshop.LabelTemplate],
		Participant:    l[workshop.LabelParticipant],
		CreatedAt:      svc.CreatedAt.UTC(),
		WorkspaceName:  svc.Spec.Name,
		NetworkName:    netName,
		Volumes:        []string{svc.Spec.Name + "-workspace"},
		Containers:     []string{svc.Spec.Name},
		Incomplete:     l[LabelCreating] != "",
		Claimed:        l[workshop.LabelClaimed] != "",
		Status:         workshop.StatusPending,
	}
	s.ExpiresAt, _ = workshop.ParseExpiresAt(l)
	// The live limits (drift shows here); storage is not capped on Swarm.
	if r := svc.Spec.TaskTemplate.Resources; r != nil && r.Limits != nil {
		s.Resources.CPU = workshop.FormatMilliCPU(r.Limits.NanoCPUs / 1e6)
		s.Resources.Memory = workshop.FormatBytes(r.Limits.MemoryBytes)
	} else {
		s.Resources.CPU, s.Resources.Memory = l[LabelCPU], l[LabelMemory]
	}
	if !s.ExpiresAt.IsZero() && time.Now().After(s.ExpiresAt) {
		s.Status = workshop.StatusExpired
	}
	return s
}

// taskStatus maps the service's current task to a session status.
func (b *Backend) taskStatus(ctx context.Context, svc swarm.Service) string {
	f := filters.NewArgs(filters.Arg("service", svc.ID), filters.Arg("desired-state", "running"))
	tasks, err := b.cli.TaskList(ctx, swarm.TaskListOptions{Filters: f})
	if err != nil || len(tasks) == 0 {
		return workshop.StatusPending
	}
	switch tasks[0].Status.State {
	case swarm.TaskStateRunning:
		return workshop.StatusRunning
	case swarm.TaskStateFailed, swarm.TaskStateRejected:
		return workshop.StatusFailed
	default:
		return workshop.StatusPending
	}
}

// ListSessions lists every session of which a labelled service or network is left: one
// without its service or network is degraded, one still carrying the creating label (or
// without a service) incomplete.
func (b *Backend) ListSessions(ctx context.Context) ([]*workshop.Session, error) {
	return b.listSessions(ctx)
}

// listSessions is ListSessions of the services and networks that also carry the labels
// "key=value" of only.
func (b *Backend) listSessions(ctx context.Context, only ...string) ([]*workshop.Session, error) {
	f := filters.NewArgs(filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue),
		filters.Arg("label", workshop.LabelBackend+"="+string(workshop.InfraSwarm)))
	for _, kv := range only {
		f.Add("label", kv)
	}
	services, err := b.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list session services: %w", err)
	}
	nets, err := b.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list session networks: %w", err)
	}
	byID := map[string]*workshop.Session{}
	for _, svc := range services {
		id := svc.Spec.Labels[workshop.LabelSession]
		if workshop.ValidateSessionID(id) != nil {
			continue
		}
		s := sessionFromService(svc, "")
		s.Status = workshop.StatusDegraded // until its network is seen
		if !s.ExpiresAt.IsZero() && time.Now().After(s.ExpiresAt) {
			s.Status = workshop.StatusExpired
		}
		byID[id] = s
	}
	for _, n := range nets {
		id := n.Labels[workshop.LabelSession]
		if workshop.ValidateSessionID(id) != nil {
			continue
		}
		s, ok := byID[id]
		if !ok {
			s = &workshop.Session{
				ID: id, Infrastructure: workshop.InfraSwarm, Status: workshop.StatusDegraded, Incomplete: true,
				TemplateName: n.Labels[workshop.LabelTemplate], Participant: n.Labels[workshop.LabelParticipant],
				TemplateID: n.Labels[workshop.LabelTemplateID],
				CreatedAt:  n.Created.UTC(),
			}
			s.ExpiresAt, _ = workshop.ParseExpiresAt(n.Labels)
			byID[id] = s
		}
		s.NetworkName = n.Name
		if s.Status == workshop.StatusDegraded && s.WorkspaceName != "" {
			s.Status = workshop.StatusRunning
		}
	}
	out := make([]*workshop.Session, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
