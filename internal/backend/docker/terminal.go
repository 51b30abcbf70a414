package docker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.TerminalOpener = (*Backend)(nil)

// terminalEndGrace is how long a closed terminal's shell has to exit on its own before
// its processes are killed.
const terminalEndGrace = 500 * time.Millisecond

// OpenTerminal starts a TTY exec in one of the session's containers (the workspace by
// default) and attaches to it. The exec is tagged with an exec marker: Docker does not
// end an exec when its stream closes, so Close kills what is left of it.
func (b *Backend) OpenTerminal(ctx context.Context, sessionID string, req *workshop.TerminalRequest) (workshop.Terminal, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	if req == nil {
		req = &workshop.TerminalRequest{}
	}
	target, err := b.execTarget(ctx, sessionID, req.Container)
	if err != nil {
		return nil, err
	}
	cmd := req.Command
	if len(cmd) == 0 {
		cmd = workshop.TerminalShell
	}
	marker := workshop.NewExecMarker()
	created, err := b.cli.ContainerExecCreate(ctx, target, container.ExecOptions{
		Cmd:          cmd,
		Env:          []string{"TERM=xterm-256color", workshop.ExecMarkerEnv + "=" + marker},
		Tty:          true,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		if isConflict(err) {
			return nil, fmt.Errorf("terminal in session %s: the container is not running: %w", sessionID, err)
		}
		if isNotFound(err) {
			return nil, fmt.Errorf("terminal in session %s: the container is gone (%v): %w", sessionID, err, workshop.ErrNotFound)
		}
		return nil, fmt.Errorf("terminal in session %s: create exec: %w", sessionID, err)
	}
	resp, err := b.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: true})
	if err != nil {
		return nil, fmt.Errorf("terminal in session %s: attach exec: %w", sessionID, err)
	}
	t := &dockerTerminal{b: b, resp: resp, execID: created.ID, target: target, marker: marker}
	if req.Cols > 0 && req.Rows > 0 {
		// The exec starts with the attach; its size can be set only now.
		_ = t.Resize(req.Cols, req.Rows)
	}
	return t, nil
}

type dockerTerminal struct {
	b      *Backend
	resp   types.HijackedResponse
	execID string
	target string
	marker string
	once   sync.Once
}

// With a TTY the stream is raw: no stdcopy framing.
func (t *dockerTerminal) Read(p []byte) (int, error)  { return t.resp.Reader.Read(p) }
func (t *dockerTerminal) Write(p []byte) (int, error) { return t.resp.Conn.Write(p) }

func (t *dockerTerminal) Resize(cols, rows uint16) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return t.b.cli.ContainerExecResize(ctx, t.execID, container.ResizeOptions{Width: uint(cols), Height: uint(rows)})
}

// Close ends the stream; when the shell does not exit within terminalEndGrace (a
// program still runs in it, or it ignores the hang-up), every process of the exec is
// killed.
func (t *dockerTerminal) Close() error {
	t.once.Do(func() {
		if cw, ok := t.resp.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		t.resp.Close()
		ctx, cancel := context.WithTimeout(context.Background(), workshop.ExecKillTimeout)
		defer cancel()
		deadline := time.Now().Add(terminalEndGrace)
		for {
			ins, err := t.b.cli.ContainerExecInspect(ctx, t.execID)
			if err != nil || !ins.Running {
				return
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		res := &workshop.ExecResult{}
		t.b.killExec(ctx, t.target, &workshop.ExecRequest{}, t.marker, res)
	})
	return nil
}
