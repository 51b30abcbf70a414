package swarm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// unplaceableGrace is how long a task may stay pending with a scheduler error ("no
// suitable node") before the create gives up: Swarm would keep it pending forever, and
// a node joining within seconds is not what a class waits for.
const unplaceableGrace = 3 * time.Second

// pollMin and pollMax bound the interval between task listings.
const (
	pollMin = 100 * time.Millisecond
	pollMax = time.Second
)

// waitTask polls the service's tasks until one that accept takes (nil: any) runs. A task that failed or was rejected, or one Swarm cannot place, ends the
// wait with an error naming the session, the task and what Swarm said.
func (b *Backend) waitTask(ctx context.Context, id, serviceID string, accept func(swarm.Task) bool) error {
	f := filters.NewArgs(filters.Arg("service", serviceID))
	var unplaceableSince time.Time
	last := "no task yet"
	delay := pollMin
	for {
		tasks, err := b.cli.TaskList(ctx, swarm.TaskListOptions{Filters: f})
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("session %s: list the tasks of service %s: %w", id, serviceID, err)
		}
		unplaceable := false
		for _, t := range tasks {
			if accept != nil && !accept(t) {
				continue
			}
			switch t.Status.State {
			case swarm.TaskStateRunning:
				if t.DesiredState == swarm.TaskStateRunning {
					return nil
				}
			case swarm.TaskStateFailed, swarm.TaskStateRejected:
				return fmt.Errorf("session %s: the workspace task %s %s on node %s: %s%s",
					id, t.ID, t.Status.State, nodeOr(t.NodeID), taskErr(t), b.noImageHint(t))
			case swarm.TaskStatePending:
				if t.Status.Err != "" && t.DesiredState == swarm.TaskStateRunning {
					unplaceable = true
					last = describeUnplaceable(t)
				}
			}
			if t.DesiredState == swarm.TaskStateRunning && !unplaceable {
				last = fmt.Sprintf("task %s is %s (%s)", t.ID, t.Status.State, t.Status.Message)
			}
		}
		switch {
		case !unplaceable:
			unplaceableSince = time.Time{}
		case unplaceableSince.IsZero():
			unplaceableSince = time.Now()
		case time.Since(unplaceableSince) > unplaceableGrace:
			return fmt.Errorf("session %s: %s", id, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("session %s: the workspace did not start before the deadline: %s: %w", id, last, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, pollMax)
	}
}

// describeUnplaceable says why Swarm cannot place a task, with its constraints.
func describeUnplaceable(t swarm.Task) string {
	msg := fmt.Sprintf("Swarm cannot place the workspace task %s: %s", t.ID, t.Status.Err)
	if p := t.Spec.Placement; p != nil && len(p.Constraints) > 0 && strings.Contains(t.Status.Err, "constraint") {
		msg += fmt.Sprintf("; no node satisfies the template's placement_constraints %q", p.Constraints)
	}
	if strings.Contains(t.Status.Err, "insufficient resources") {
		msg += "; no node has the CPU and memory the session reserves left"
	}
	return msg
}

// taskErr is what Swarm says about a failed task (its error, else its message and exit code).
func taskErr(t swarm.Task) string {
	msg := t.Status.Err
	if msg == "" {
		msg = t.Status.Message
	}
	if cs := t.Status.ContainerStatus; cs != nil && cs.ExitCode != 0 {
		msg += fmt.Sprintf(" (exit code %d)", cs.ExitCode)
	}
	return msg
}

func nodeOr(n string) string {
	if n == "" {
		return "(none)"
	}
	return n
}

// isOutOfSequence reports a service update that raced another one.
func isOutOfSequence(err error) bool {
	return err != nil && strings.Contains(err.Error(), "update out of sequence")
}

// runningTask returns the running task of a session's workspace service.
func (b *Backend) runningTask(ctx context.Context, id string) (swarm.Task, error) {
	name := workshop.SessionObjectName(id)
	f := filters.NewArgs(filters.Arg("service", name), filters.Arg("desired-state", "running"))
	tasks, err := b.cli.TaskList(ctx, swarm.TaskListOptions{Filters: f})
	if err != nil {
		return swarm.Task{}, fmt.Errorf("session %s: list the tasks of %s: %w", id, name, err)
	}
	for _, t := range tasks {
		// The service filter matches by name prefix too (nalabo-session-<id>-x).
		if t.Status.State == swarm.TaskStateRunning && t.Status.ContainerStatus != nil && t.Status.ContainerStatus.ContainerID != "" {
			return t, nil
		}
	}
	return swarm.Task{}, fmt.Errorf("session %s: service %s has no running task: %w", id, name, workshop.ErrNotFound)
}
