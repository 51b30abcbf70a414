package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.TerminalOpener = (*Backend)(nil)

// OpenTerminal starts a TTY exec in the session's workspace pod (or req.Container, as
// in Exec) through the API server. The command runs under the exec marker wrapper, so
// Close can kill what the stream's end leaves running.
func (b *Backend) OpenTerminal(ctx context.Context, sessionID string, req *workshop.TerminalRequest) (workshop.Terminal, error) {
	if err := workshop.ValidateSessionID(sessionID); err != nil {
		return nil, err
	}
	if req == nil {
		req = &workshop.TerminalRequest{}
	}
	t := execTarget{ns: workshop.SessionObjectName(sessionID), pod: workspacePodName, container: workspaceContainer}
	if req.Container != "" {
		t.pod, t.container, _ = strings.Cut(req.Container, "/")
	}
	cmd := req.Command
	if len(cmd) == 0 {
		cmd = workshop.TerminalShell
	}
	marker := workshop.NewExecMarker()
	wrapped := wrapCommand(&workshop.ExecRequest{Command: cmd, Env: map[string]string{"TERM": "xterm-256color"}}, marker)
	exec, err := b.executor(t, &corev1.PodExecOptions{Container: t.container, Command: wrapped, Stdin: true, Stdout: true, TTY: true})
	if err != nil {
		return nil, fmt.Errorf("terminal in %s/%s: %w", t.ns, t.pod, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	term := &kubeTerminal{b: b, target: t, marker: marker, cancel: cancel, in: inW, out: outR,
		sizes: make(chan remotecommand.TerminalSize, 4), done: make(chan struct{})}
	if req.Cols > 0 && req.Rows > 0 {
		term.sizes <- remotecommand.TerminalSize{Width: req.Cols, Height: req.Rows}
	}
	go func() {
		err := exec.StreamWithContext(sctx, remotecommand.StreamOptions{
			Stdin: inR, Stdout: outW, Tty: true, TerminalSizeQueue: term,
		})
		term.err = err
		close(term.done)
		_ = inR.CloseWithError(io.EOF)
		if err == nil {
			err = io.EOF
		}
		_ = outW.CloseWithError(err)
	}()
	return term, nil
}

type kubeTerminal struct {
	b      *Backend
	target execTarget
	marker string
	cancel context.CancelFunc
	in     *io.PipeWriter
	out    *io.PipeReader
	sizes  chan remotecommand.TerminalSize
	done   chan struct{}
	err    error
	once   sync.Once
}

func (t *kubeTerminal) Read(p []byte) (int, error)  { return t.out.Read(p) }
func (t *kubeTerminal) Write(p []byte) (int, error) { return t.in.Write(p) }

// Next is remotecommand's TerminalSizeQueue: nil ends the resizes.
func (t *kubeTerminal) Next() *remotecommand.TerminalSize {
	select {
	case s := <-t.sizes:
		return &s
	case <-t.done:
		return nil
	}
}

func (t *kubeTerminal) Resize(cols, rows uint16) error {
	select {
	case <-t.done:
		return errors.New("the terminal has ended")
	default:
	}
	select {
	case t.sizes <- remotecommand.TerminalSize{Width: cols, Height: rows}:
	default: // a burst of resizes: the latest wins at the next one
	}
	return nil
}

// Close ends the stream and kills every process of the terminal (closing the stream
// does not end them).
func (t *kubeTerminal) Close() error {
	t.once.Do(func() {
		_ = t.in.Close()
		t.cancel()
		<-t.done
		_ = t.out.Close()
		res := &workshop.ExecResult{}
		t.b.killExec(context.Background(), t.target, t.marker, res)
	})
	return nil
}
