package workshop

import (
	"errors"
	"strings"
	"testing"
)

func TestApplyKillResult(t *testing.T) {
	cases := []struct {
		kr   *ExecResult
		err  error
		want string
	}{
		{&ExecResult{Stdout: "comm 12 sleep\ncomm 9 sh\ncomm 14 sleep\nrounds 2\n"}, nil, "killed 3 processes (sh, sleep ×2)"},
		{&ExecResult{Stdout: "comm 12 my prog\nrounds 1\n"}, nil, "killed 1 process (my prog)"},
		{&ExecResult{Stdout: "rounds 1\n"}, nil, "no process of it was left to kill"},
		{&ExecResult{Stdout: "comm 12 sleep\ndenied 13\nleft 12\nrounds 3\n"}, nil,
			"killed 1 process (sleep); but 1 process(es) could not be signalled (another user); 1 process(es) still there after SIGKILL"},
		{&ExecResult{Stdout: "comm 12 sleep\n", ExitCode: 137}, nil, "killed 1 process (sleep); but the kill ended early (exit 137: )"},
		{&ExecResult{ExitCode: 127, Stderr: "no grep with -z\n"}, nil, "could not kill its processes: the container has no usable /bin/sh or grep"},
		{&ExecResult{TimedOut: true}, nil, "could not kill its processes: the kill did not finish within 20s"},
		{nil, errors.New("the container is not running"), "could not kill its processes: the kill could not run: the container is not running"},
	}
	for i, c := range cases {
		r := &ExecResult{}
		ApplyKillResult(r, c.kr, c.err)
		if got := r.KillSummary(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%d: %q, want prefix %q", i, got, c.want)
		}
	}
	if s := (&ExecResult{}).KillSummary(); s != "its processes were not killed" {
		t.Errorf("no kill: %q", s)
	}
	names := make([]string, 0, 12)
	for _, n := range "abcdefghijkl" {
		names = append(names, string(n))
	}
	if got := countNames(names); !strings.HasSuffix(got, "j, ...") {
		t.Errorf("countNames caps at 10 names: %q", got)
	}
}

func TestKillCommandArgv(t *testing.T) {
	m := NewExecMarker()
	argv := KillCommand(m)
	// The marker travels as an argument, never in the kill's own environment or script.
	if len(argv) != 5 || argv[0] != "/bin/sh" || argv[4] != m || strings.Contains(argv[2], m) || len(m) != 32 {
		t.Fatalf("argv %q", argv)
	}
	if !IsNoShell(errors.New(`exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown`)) || IsNoShell(errors.New("exit 1")) {
		t.Fatal("IsNoShell")
	}
}
