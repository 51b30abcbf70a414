package docker

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// sleepers lists the "sleep <n>" commands running in the session's workspace, from
// busybox ps (a zombie shows as [sleep], without its arguments, and is not listed).
func sleepers(t *testing.T, b *Backend, id string) []string {
	t.Helper()
	res := exec(t, b, id, "ps -o args")
	return regexp.MustCompile(`(?m)^sleep \d+`).FindAllString(res.Stdout, -1)
}

// A timed-out exec leaves nothing behind: its children, a setsid'd daemon and the shell
// itself are gone, while a process of another exec survives (the kill is targeted).
func TestExecTimeoutKillsAll(t *testing.T) {
	b := newTestBackend(t)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-execkill", Workspace: workshop.Workspace{Image: imageShell1}})
	spec := newSpec(tpl, "killer")
	createSession(t, b, spec)
	id := spec.ID

	// Not part of the timed-out exec: must survive.
	exec(t, b, id, "setsid sleep 299 </dev/null >/dev/null 2>&1 &")

	script := "sleep 300 & sleep 301 & (setsid sleep 302 &) ; sleep 303"
	type outcome struct {
		res *workshop.ExecResult
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		res, err := b.Exec(testCtx(t, time.Minute), id, &workshop.ExecRequest{Command: []string{"sh", "-c", script}, Timeout: 2 * time.Second})
		done <- outcome{res, err}
	}()
	// Positive control: while it runs, ps sees all of them.
	time.Sleep(time.Second)
	want := []string{"sleep 299", "sleep 300", "sleep 301", "sleep 302", "sleep 303"}
	if got := sleepers(t, b, id); !sameSet(got, want) {
		t.Fatalf("while running: ps shows %v, want %v", got, want)
	}
	o := <-done
	if o.err != nil || !o.res.TimedOut || o.res.ExitCode != -1 || !o.res.KillAttempted || o.res.KillError != "" {
		t.Fatalf("timed-out exec: %+v %v", o.res, o.err)
	}
	t.Logf("timed out after %s: %s", time.Since(start).Round(time.Millisecond), o.res.KillSummary())
	// busybox sh execs its last command: no sh is left to kill.
	wantContains(t, o.res.KillSummary(), "killed 4 processes (sleep ×4)", "kill summary")
	if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
		t.Fatalf("after the kill: ps shows %v, want only the other exec's sleep 299", got)
	}

	t.Run("fork bomb", func(t *testing.T) {
		// Daemonized children as fast as the pids limit lets it (fork fails at the limit).
		start := time.Now()
		res, err := b.Exec(testCtx(t, time.Minute), id, &workshop.ExecRequest{
			Command: []string{"sh", "-c", "while :; do (sleep 300 &) 2>/dev/null; done"}, Timeout: 2 * time.Second})
		if err != nil || !res.TimedOut || res.KillError != "" || len(res.Killed) < 10 {
			t.Fatalf("fork bomb: %v %v", res, err)
		}
		t.Logf("fork bomb: %s in %s", res.KillSummary(), time.Since(start).Round(time.Millisecond))
		if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
			t.Fatalf("after the fork bomb's kill: ps shows %d sleeps (%v...)", len(got), got[:min(len(got), 5)])
		}
	})

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		_, err := b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"sh", "-c", "sleep 305 & sleep 306"}, Timeout: time.Minute})
		if err == nil || !strings.Contains(err.Error(), "killed 2 processes (sleep ×2)") {
			t.Fatalf("cancelled exec: err = %v, want one naming what was killed", err)
		}
		if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
			t.Fatalf("after the cancellation: ps shows %v", got)
		}
	})

	t.Run("user", func(t *testing.T) {
		// The kill runs as the exec's user: it can see and signal that user's processes.
		res, err := b.Exec(testCtx(t, time.Minute), id, &workshop.ExecRequest{
			Command: []string{"sh", "-c", "sleep 307 & sleep 308"}, User: "65534", Timeout: time.Second})
		if err != nil || !res.TimedOut || res.KillSummary() != "killed 2 processes (sleep ×2)" {
			t.Fatalf("exec as 65534: %+v %v", res, err)
		}
		if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
			t.Fatalf("after the kill of user 65534's exec: ps shows %v", got)
		}
		// A root exec whose daemon switched to another user (the workspace keeps
		// CAP_SETUID): the kill, as root with CAP_KILL, still finds and ends it.
		res, err = b.Exec(testCtx(t, time.Minute), id, &workshop.ExecRequest{
			Command: []string{"sh", "-c", "mkdir -p /etc && echo nobody:x:65534:65534::/:/bin/sh >>/etc/passwd && echo nobody:x:65534: >>/etc/group && " +
				"(setsid su -s /bin/sh nobody -c 'exec sleep 309' &); sleep 310"}, Timeout: time.Second})
		if err != nil || !res.TimedOut || res.KillSummary() != "killed 2 processes (sleep ×2)" {
			t.Fatalf("exec whose daemon switched user: %+v %v", res, err)
		}
		if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
			t.Fatalf("after the kill of a daemon that switched user: ps shows %v", got)
		}
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// In an image without /bin/sh the command still runs, but nothing can look for its
// processes: the result says so instead of claiming a kill.
func TestExecTimeoutNoShell(t *testing.T) {
	b := newTestBackend(t)
	dir := t.TempDir()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no static busybox to build a shell-less image: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sleep"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	// busybox named sleep is sleep, and nothing else.
	dockerfile := "FROM scratch\nCOPY sleep /sleep\nCMD [\"/sleep\", \"infinity\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	digest, err := workshop.HashBuildContext(dir, "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-noshell", Workspace: workshop.Workspace{
		Build: &workshop.Build{Context: dir, ContextDigest: digest}}})
	spec := newSpec(tpl, "noshell")
	createSession(t, b, spec)
	res, err := b.Exec(testCtx(t, time.Minute), spec.ID, &workshop.ExecRequest{Command: []string{"/sleep", "300"}, Timeout: time.Second})
	if err != nil || !res.TimedOut || !res.KillAttempted || len(res.Killed) != 0 {
		t.Fatalf("exec in a shell-less image: %+v %v", res, err)
	}
	t.Logf("result: %s", res.KillSummary())
	wantContains(t, res.KillSummary(), "could not kill its processes: the image has no /bin/sh", "kill summary")
}
