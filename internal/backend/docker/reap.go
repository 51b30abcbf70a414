package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.SessionReaper = (*Backend)(nil)

// Reaping: how often the containers of a session are re-listed while another client
// removes them, and how often the final delete is tried when it meets an object another
// client is still removing.
const (
	reapPoll     = 200 * time.Millisecond
	reapAttempts = 5
)

// ReapSession deletes a session for the reconciler and tells whether this call claimed
// it. The claim is the removal of the workspace container nalabo-session-<id>: Docker
// lets exactly one of several concurrent removals succeed (the others get "not found"
// or "removal already in progress"), so two reconcilers on one host count each session
// once.
//
// Then, whoever claimed it, every container of the session is removed and ReapSession
// waits until none is listed any more (another client's removal may still be under
// way), and only then removes networks, volumes and images as DeleteSession does: a
// network or volume is never removed while a container of the racing client still
// uses it. A missing object is not an error.
func (b *Backend) ReapSession(ctx context.Context, id string) (bool, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return false, err
	}
	defer b.reads.mutation(id)()
	name := workshop.SessionObjectName(id)
	err := b.cli.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
	claimed := err == nil
	if err != nil && !isNotFound(err) && !isRemovalInProgress(err) {
		return false, fmt.Errorf("reap session %s: remove container %s: %w", id, name, err)
	}
	if err := b.removeContainersUntilGone(ctx, id); err != nil {
		return claimed, fmt.Errorf("reap session %s: %w", id, err)
	}
	for attempt := 1; ; attempt++ {
		err := b.DeleteSession(ctx, id)
		if err == nil {
			return claimed, nil
		}
		if attempt == reapAttempts || ctx.Err() != nil {
			return claimed, fmt.Errorf("reap session %s: %w", id, err)
		}
		// Something may still be in use by a removal under way elsewhere ("volume is
		// in use", "network has active endpoints"): try again.
		if err := sleepCtx(ctx, reapPoll); err != nil {
			return claimed, fmt.Errorf("reap session %s: %w", id, err)
		}
	}
}

// removeContainersUntilGone force-removes the session's containers and re-lists them
// until none is left (removals by another client finish meanwhile).
func (b *Backend) removeContainersUntilGone(ctx context.Context, id string) error {
	f := labelFilters(workshop.LabelSession + "=" + id)
	for {
		ctrs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			return fmt.Errorf("list containers of session %s: %w", id, err)
		}
		if len(ctrs) == 0 {
			return nil
		}
		if err := b.removeContainers(ctx, ctrs); err != nil {
			return err
		}
		if err := sleepCtx(ctx, reapPoll); err != nil {
			return fmt.Errorf("containers of session %s are still being removed: %w", id, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
