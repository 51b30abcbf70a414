package swarm

import (
	"context"
	"fmt"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Exec runs a command in the session's workspace task: its container is found on the
// engine of the node the task runs on (the manager's own, or swarm.node_hosts), and the
// Docker backend's exec runs there (marker, bounded output, kill on timeout; it checks
// the container carries the session's label).
func (b *Backend) Exec(ctx context.Context, sessionID string, req *workshop.ExecRequest) (*workshop.ExecResult, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	if req == nil || len(req.Command) == 0 {
		return nil, fmt.Errorf("exec in session %s: no command given", sessionID)
	}
	ws := workshop.SessionObjectName(sessionID)
	switch req.Container {
	case "", "workspace", ws:
	default:
		return nil, fmt.Errorf("exec in session %s: container %q: swarm sessions have only their workspace: %w", sessionID, req.Container, workshop.ErrNotFound)
	}
	task, err := b.runningTask(ctx, sessionID)
	if err != nil {
		return nil, fmt.Errorf("exec in session %s: %w", sessionID, err)
	}
	e, err := b.engineFor(ctx, task.NodeID)
	if err != nil {
		return nil, fmt.Errorf("exec in session %s: %w", sessionID, err)
	}
	r := *req
	r.Container = task.Status.ContainerStatus.ContainerID
	return e.exec.Exec(ctx, sessionID, &r)
}
