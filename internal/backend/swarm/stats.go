package swarm

import (
	"context"
	"fmt"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.StatsReader = (*Backend)(nil)

// SessionStats reads the usage of the session's running task from the engine of its
// node (the Docker backend's one-shot stats of the containers labelled with the session).
func (b *Backend) SessionStats(ctx context.Context, id string) (*workshop.SessionStats, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	task, err := b.runningTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("stats of session %s: %w", id, err)
	}
	e, err := b.engineFor(ctx, task.NodeID)
	if err != nil {
		return nil, fmt.Errorf("stats of session %s: %w", id, err)
	}
	return e.exec.SessionStats(ctx, id)
}
