package docker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// DefaultExecTimeout applies when an exec request gives none.
const DefaultExecTimeout = 30 * time.Second

// execInspectTimeout bounds the wait for an exec's exit code once its output ended.
const execInspectTimeout = 10 * time.Second

// Exec runs a command in one of the session's containers and returns its output (each
// stream bounded) and exit code. When the timeout ends first the result has TimedOut and
// ExitCode -1. Docker cannot kill an exec, so on a timeout or cancellation killExec ends
// every process tagged with this exec's marker (workshop.ExecMarkerEnv) and the result
// says what it killed.
func (b *Backend) Exec(ctx context.Context, sessionID string, req *workshop.ExecRequest) (*workshop.ExecResult, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	if req == nil || len(req.Command) == 0 {
		return nil, fmt.Errorf("exec in session %s: no command given", sessionID)
	}
	if err := workshop.ValidateEnv("env", req.Env); err != nil {
		return nil, fmt.Errorf("exec in session %s: %w", sessionID, err)
	}
	target, err := b.execTarget(ctx, sessionID, req.Container)
	if err != nil {
		return nil, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	ectx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	marker := workshop.NewExecMarker()
	start := time.Now()
	res, err := b.runExec(ectx, target, req, marker)
	if res != nil {
		res.Duration = time.Since(start)
	}
	if err != nil && ectx.Err() != nil {
		// Timed out or cancelled: the command may still run (as may all it started).
		if res == nil {
			res = &workshop.ExecResult{Duration: time.Since(start)}
		}
		b.killExec(ctx, target, req, marker, res)
		if ctx.Err() == nil && errors.Is(ectx.Err(), context.DeadlineExceeded) {
			// Our timeout, not the caller's cancellation.
			res.TimedOut, res.ExitCode = true, -1
			return res, nil
		}
		return nil, fmt.Errorf("exec in session %s, container %s: %w (%s)", sessionID, target, err, res.KillSummary())
	}
	if err != nil {
		return nil, fmt.Errorf("exec in session %s, container %s: %w", sessionID, target, err)
	}
	return res, nil
}

// runExec creates, attaches and waits for one exec. On ctx's end it closes the stream
// and returns what arrived so far with ctx's error. A non-empty marker is set as workshop.ExecMarkerEnv in the command's environment.
func (b *Backend) runExec(ctx context.Context, target string, req *workshop.ExecRequest, marker string) (*workshop.ExecResult, error) {
	env := envList(req.Env)
	if marker != "" {
		// Ours, never the request's or the image's: the kill looks for this exact value.
		env = slices.DeleteFunc(env, func(e string) bool { return strings.HasPrefix(e, workshop.ExecMarkerEnv+"=") })
		env = append(env, workshop.ExecMarkerEnv+"="+marker)
	}
	created, err := b.cli.ContainerExecCreate(ctx, target, container.ExecOptions{
		Cmd:          req.Command,
		Env:          env,
		WorkingDir:   req.WorkingDir,
		User:         req.User,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		if isConflict(err) {
			return nil, fmt.Errorf("the container is not running: %w", err)
		}
		if isNotFound(err) {
			return nil, fmt.Errorf("the container is gone (%v): %w", err, workshop.ErrNotFound)
		}
		return nil, fmt.Errorf("create exec: %w", err)
	}
	resp, err := b.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("attach exec: %w", err)
	}
	defer resp.Close()
	stdout, stderr := workshop.NewBoundedBuffer(req.MaxOutputBytes), workshop.NewBoundedBuffer(req.MaxOutputBytes)
	res := func() *workshop.ExecResult {
		return &workshop.ExecResult{
			Stdout: stdout.String(), Stderr: stderr.String(),
			StdoutTruncated: stdout.Truncated(), StderrTruncated: stderr.Truncated(),
		}
	}
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, resp.Reader)
		copied <- err
	}()
	select {
	case <-ctx.Done():
		resp.Close() // unblocks the copy
		<-copied     //nolint:errcheck // the copy ends once the stream is closed; ctx.Err() is the error
		return res(), ctx.Err()
	case err := <-copied:
		if err != nil {
			return res(), fmt.Errorf("read output: %w", err)
		}
	}
	code, err := b.execExitCode(ctx, created.ID)
	r := res()
	r.ExitCode = code
	return r, err
}

// execExitCode polls the exec until it is no longer running (its output may end a
// moment before the daemon records the exit).
func (b *Backend) execExitCode(ctx context.Context, execID string) (int, error) {
	ictx, cancel := context.WithTimeout(ctx, execInspectTimeout)
	defer cancel()
	bo := newBackoff(5*time.Millisecond, 100*time.Millisecond)
	for {
		ins, err := b.cli.ContainerExecInspect(ictx, execID)
		if err != nil {
			return -1, fmt.Errorf("inspect exec: %w", err)
		}
		if !ins.Running {
			return ins.ExitCode, nil
		}
		if err := bo.wait(ictx); err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("the command closed its output but did not exit within %s", execInspectTimeout)
		}
	}
}

// execTarget resolves the container to run in: the workspace for "" (or "workspace"),
// else nalabo-session-<id>-<name> or the exact name. The container must carry the
// session's label: an exec never reaches another session.
func (b *Backend) execTarget(ctx context.Context, id, name string) (string, error) {
	ws := workshop.SessionObjectName(id)
	var candidates []string
	switch name {
	case "", WorkspaceAlias, ws:
		candidates = []string{ws}
	default:
		candidates = []string{ws + "-" + name, name}
	}
	for _, c := range candidates {
		ins, err := b.cli.ContainerInspect(ctx, c)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("inspect container %s: %w", c, err)
		}
		if ins.Config == nil || ins.Config.Labels[workshop.LabelSession] != id || !managedBy(ins.Config.Labels) {
			return "", fmt.Errorf("container %s does not belong to session %s: refusing to exec in it", c, id)
		}
		if ins.State != nil && !ins.State.Running {
			return "", fmt.Errorf("session %s is stopped (container %s is %s): resume it with state = \"running\" before running commands in it",
				id, c, ins.State.Status)
		}
		return strings.TrimPrefix(ins.Name, "/"), nil
	}
	if len(candidates) == 1 {
		return "", fmt.Errorf("session %s: no workspace container %s on Docker at %s: %w", id, ws, b.cfg.Host, workshop.ErrNotFound)
	}
	return "", fmt.Errorf("session %s has no container %q (looked for %s and %s): %w",
		id, name, candidates[0], candidates[1], workshop.ErrNotFound)
}
