package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Polling of a starting container: a short first delay, doubling up to a ceiling.
const (
	pollFirstDelay = 25 * time.Millisecond
	pollMaxDelay   = 250 * time.Millisecond
	logTailLines   = 20
	// minStable is how long a container must stay running to count as started.
	minStable = 100 * time.Millisecond
)

// backoff returns successive delays: first, 2*first, ... capped at max.
type backoff struct {
	next, max time.Duration
}

func newBackoff(first, limit time.Duration) *backoff { return &backoff{next: first, max: limit} }

// wait sleeps the next delay, or returns ctx's error when it ends first.
func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.next)
	defer t.Stop()
	b.next = min(2*b.next, b.max)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readiness tells whether a container is ready: running, and healthy when it has a
// healthcheck. It returns an error when it never will be (exited, unhealthy).
func readiness(ins container.InspectResponse) (bool, error) {
	st := ins.State
	if st == nil {
		return false, nil
	}
	switch {
	case st.Restarting || (ins.RestartCount > 0 && !st.Running):
		return false, fmt.Errorf("it exited (code %d) and is restarting", st.ExitCode)
	case ins.RestartCount > 0:
		// Caught running again: the exit code of the failed run is gone from the state.
		return false, fmt.Errorf("it exited and was restarted (%d restarts)", ins.RestartCount)
	case st.Status == container.StateExited || st.Status == container.StateDead:
		msg := fmt.Sprintf("it %s with code %d", st.Status, st.ExitCode)
		if st.OOMKilled {
			msg += " (out of memory)"
		}
		if st.Error != "" {
			msg += ": " + st.Error
		}
		return false, errors.New(msg)
	case !st.Running:
		return false, nil
	case st.Health == nil || st.Health.Status == container.NoHealthcheck:
		return true, nil
	case st.Health.Status == container.Healthy:
		return true, nil
	case st.Health.Status == container.Unhealthy:
		return false, fmt.Errorf("its healthcheck fails%s", lastHealthOutput(st.Health))
	}
	return false, nil // health: starting
}

func lastHealthOutput(h *container.Health) string {
	if len(h.Log) == 0 {
		return ""
	}
	last := h.Log[len(h.Log)-1]
	return fmt.Sprintf(" (exit code %d: %s)", last.ExitCode, strings.TrimSpace(last.Output))
}

// describeState renders a container's state for error messages.
func describeState(ins container.InspectResponse) string {
	if ins.ContainerJSONBase == nil || ins.State == nil {
		return "unknown state"
	}
	s := ins.State.Status
	if ins.State.Health != nil {
		s += ", health " + ins.State.Health.Status
	}
	return s
}

// waitReady waits for the workspace container: running, and healthy when it has a
// healthcheck (see waitContainer for the stability rule).
func (b *Backend) waitReady(ctx context.Context, name string) (container.InspectResponse, error) {
	return b.waitContainer(ctx, name, "workspace", readiness)
}

// waitContainer polls a container until ready says so, says it never will be, or ctx
// ends. A container must be seen ready twice, minStable apart.
func (b *Backend) waitContainer(ctx context.Context, name, what string, ready func(container.InspectResponse) (bool, error)) (container.InspectResponse, error) {
	bo := newBackoff(pollFirstDelay, pollMaxDelay)
	var firstReady time.Time
	for {
		ins, err := b.cli.ContainerInspect(ctx, name)
		if err != nil {
			return ins, fmt.Errorf("wait for container %s: %w", name, err)
		}
		ok, err := ready(ins)
		if err != nil {
			return ins, fmt.Errorf("%s (container %s) is not ready: %w%s", what, name, err, b.logTail(ctx, name))
		}
		if ok && firstReady.IsZero() {
			firstReady = time.Now()
		}
		if ok && time.Since(firstReady) >= minStable {
			return ins, nil
		}
		if ok {
			bo.next = minStable - time.Since(firstReady)
		}
		if err := bo.wait(ctx); err != nil {
			return ins, fmt.Errorf("%s (container %s) did not become ready (%s): %w%s",
				what, name, describeState(ins), err, b.logTail(ctx, name))
		}
	}
}

// logTail returns the last lines of a container's logs, formatted for an error message
// ("" when there are none or they cannot be read).
func (b *Backend) logTail(ctx context.Context, name string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rc, err := b.cli.ContainerLogs(ctx, name, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(logTailLines),
	})
	if err != nil {
		return ""
	}
	defer rc.Close()
	buf := workshop.NewBoundedBuffer(16 * 1024)
	_, _ = stdcopy.StdCopy(buf, buf, rc)
	out := strings.TrimRight(buf.String(), "\n")
	if out == "" {
		return "\n(the container wrote no logs)"
	}
	return fmt.Sprintf("\nlast %d lines of its logs:\n%s", logTailLines, out)
}
