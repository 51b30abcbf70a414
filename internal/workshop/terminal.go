package workshop

import (
	"context"
	"io"
)

// TerminalShell is what a terminal runs when its request names no command: the
// participant's login shell, bash when the image has it.
var TerminalShell = []string{"/bin/sh", "-c", `if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi`}

// TerminalRequest opens an interactive terminal in a session.
type TerminalRequest struct {
	Command    []string // "" : TerminalShell
	Container  string   // "" : the workspace
	Cols, Rows uint16   // initial size (0: the backend's default)
}

// Terminal is an interactive TTY in a session: reads return what the terminal prints
// (stdout and stderr merged, as on a real TTY), writes are keystrokes. Close ends the
// stream and every process the terminal started.
type Terminal interface {
	io.ReadWriteCloser
	Resize(cols, rows uint16) error
}

// TerminalOpener is implemented by backends that open interactive terminals (the
// gateway's browser terminal); it is optional, like Configurator.
type TerminalOpener interface {
	OpenTerminal(ctx context.Context, sessionID string, req *TerminalRequest) (Terminal, error)
}
