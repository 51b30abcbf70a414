package workshop

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// execOnly is a Backend whose Exec answers from a table; nothing else is used.
type execOnly struct {
	Backend
	results map[string]*ExecResult
	seen    []*ExecRequest
}

func (e *execOnly) Exec(_ context.Context, _ string, req *ExecRequest) (*ExecResult, error) {
	e.seen = append(e.seen, req)
	r, ok := e.results[strings.Join(req.Command, " ")]
	if !ok {
		return nil, errors.New("session is gone")
	}
	return r, nil
}

func TestRunValidations(t *testing.T) {
	b := &execOnly{results: map[string]*ExecResult{
		"ok":      {ExitCode: 0, Stdout: "hello world\n", Duration: 5 * time.Millisecond},
		"exit3":   {ExitCode: 3, Stderr: "boom"},
		"nomatch": {ExitCode: 0, Stdout: "bye\n"},
		"slow":    {ExitCode: -1, TimedOut: true, KillAttempted: true, Killed: []string{"sh", "sleep", "sleep"}},
	}}
	checks := []Validation{
		{Name: "passes", Command: []string{"ok"}, OutputPattern: "^hello"},
		{Name: "expects-3", Command: []string{"exit3"}, ExpectedExitCode: 3},
		{Name: "wrong-exit", Command: []string{"exit3"}},
		{Name: "no-match", Command: []string{"nomatch"}, OutputPattern: "hello"},
		{Name: "times-out", Command: []string{"slow"}, Timeout: "2s"},
		{Name: "cannot-run", Command: []string{"missing"}},
		{Name: "bad-pattern", Command: []string{"ok"}, OutputPattern: "("},
	}
	res := RunValidations(context.Background(), b, "0123456789", checks)
	want := []struct {
		passed bool
		reason string
	}{
		{true, ""},
		{true, ""},
		{false, "exit code 3, expected 0"},
		{false, `stdout does not match "hello"`},
		{false, "timed out after 2s; killed 3 processes (sh, sleep ×2)"},
		{false, "could not run the command: session is gone"},
		{false, `output_pattern "(" is not a valid regular expression`},
	}
	for i, w := range want {
		r := res[i]
		if r.Name != checks[i].Name || r.Passed != w.passed || !strings.HasPrefix(r.Reason, w.reason) {
			t.Errorf("%s: passed %v reason %q, want %v %q", checks[i].Name, r.Passed, r.Reason, w.passed, w.reason)
		}
	}
	if res[0].Output != "hello world\n" || res[0].Duration != 5*time.Millisecond || res[1].Stderr != "boom" {
		t.Errorf("outputs: %+v %+v", res[0], res[1])
	}
	if res[5].ExecError == nil || res[2].ExecError != nil {
		t.Error("ExecError must be set only when the command could not run")
	}
	// Timeouts: the check's own, else the default.
	if b.seen[0].Timeout != DefaultValidationTimeout || b.seen[4].Timeout != 2*time.Second {
		t.Errorf("timeouts: %s, %s", b.seen[0].Timeout, b.seen[4].Timeout)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = RunValidations(ctx, b, "0123456789", checks[:2])
	if res[0].Passed || res[0].ExecError == nil || !strings.HasPrefix(res[0].Reason, "not run") {
		t.Errorf("cancelled: %+v", res[0])
	}
}
