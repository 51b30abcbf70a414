package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.SessionPauser = (*Backend)(nil)

// StartSession starts a stopped session in place: its services first, then its
// workspace, and waits until the workspace is ready. Its volumes (the persistent home)
// were kept while it was stopped. An expired session is not started: its expiry must be
// extended first (UpdateSession), or the reconciler would stop it again.
func (b *Backend) StartSession(ctx context.Context, id string) (*workshop.Session, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	cur, err := b.readSession(ctx, id, nil)
	if err != nil {
		return nil, fmt.Errorf("start session %s: %w", id, err)
	}
	if cur.Status == workshop.StatusExpired {
		return nil, fmt.Errorf("start session %s: it expired at %s; extend its duration to resume it",
			id, cur.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if cur.Status == workshop.StatusDegraded {
		return nil, fmt.Errorf("start session %s: part of it is gone (status degraded); it must be re-created", id)
	}
	done := b.reads.mutation(id)
	if !cur.StoppedAt.IsZero() {
		// Its expiry was paused: it moves by the time the session stayed stopped, before
		// any container starts (a start cut short leaves the new expiry, not a second pause).
		exp := workshop.ResumedExpiry(cur.ExpiresAt, cur.StoppedAt, time.Now())
		if err := b.replaceLease(ctx, id, &workshop.SessionSpec{}, exp, &time.Time{}); err != nil {
			done()
			return nil, fmt.Errorf("start session %s: %w", id, err)
		}
	}
	ctrs, err := b.sessionContainers(ctx, id)
	if err != nil {
		done()
		return nil, err
	}
	ws := workshop.SessionObjectName(id)
	var errs []error
	start := func(c container.Summary) {
		if c.State == container.StateRunning || c.State == container.StateRestarting {
			return
		}
		if err := b.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("start container %s: %w", containerName(c), err))
		}
	}
	for _, c := range ctrs {
		if containerName(c) != ws {
			start(c)
		}
	}
	for _, c := range ctrs {
		if containerName(c) == ws {
			start(c)
		}
	}
	done()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("start session %s: %w", id, err)
	}
	ins, err := b.waitReady(ctx, ws)
	if err != nil {
		return nil, fmt.Errorf("start session %s: %w", id, err)
	}
	return b.readSession(ctx, id, &ins)
}

// recordPause records when a session whose expiry pauses is stopped (a lease with
// nalabo.io/stopped-at), unless it has expired or is already paused.
func (b *Backend) recordPause(ctx context.Context, id string) error {
	cur, err := b.readSession(ctx, id, nil)
	if err != nil {
		return fmt.Errorf("stop session %s: %w", id, err)
	}
	now := time.Now()
	if cur.Persistence == nil || !cur.Persistence.PauseExpiry || !cur.StoppedAt.IsZero() ||
		cur.ExpiresAt.IsZero() || !now.Before(cur.ExpiresAt) {
		return nil
	}
	if err := b.replaceLease(ctx, id, &workshop.SessionSpec{}, cur.ExpiresAt, &now); err != nil {
		return fmt.Errorf("stop session %s: record the pause: %w", id, err)
	}
	return nil
}
