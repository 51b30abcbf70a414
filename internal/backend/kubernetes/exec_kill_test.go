package kubernetes

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// A timed-out exec in a namespace session's workspace pod leaves nothing behind.
func TestNamespaceExecTimeoutKill(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	id := workshop.NewSessionID()
	createTestNamespaceSession(ctx, t, b, id, "k8s-execkill", workshop.Resources{CPU: "1000m", Memory: "512Mi", Storage: "1Gi"}, nil)
	checkExecKill(t, b, id)
}

// The same in a vCluster session (its workspace pod runs in the host namespace too).
func TestVClusterExecTimeoutKill(t *testing.T) {
	b := testVClusterBackend(t)
	id := testID("vk")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t.Cleanup(func() { deleteAndCheck(t, b, id) })
	if _, err := b.CreateSession(ctx, vclusterSpec(id, "", workshop.Resources{CPU: "1000m", Memory: "1Gi", Storage: "1Gi"})); err != nil {
		t.Fatal(err)
	}
	checkExecKill(t, b, id)
}

// sleepers lists the "sleep <n>" commands running in the workspace (ps -o args; a
// zombie shows as [sleep], without its arguments, and is not listed).
func sleepers(t *testing.T, b *Backend, id string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"ps", "-o", "args"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("ps: %+v %v", res, err)
	}
	return regexp.MustCompile(`(?m)^sleep \d+`).FindAllString(res.Stdout, -1)
}

func checkExecKill(t *testing.T, b *Backend, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Not part of the timed-out exec: must survive.
	if res, err := b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"sh", "-c", "setsid sleep 299 </dev/null >/dev/null 2>&1 &"}}); err != nil || res.ExitCode != 0 {
		t.Fatalf("start the survivor: %+v %v", res, err)
	}
	type outcome struct {
		res *workshop.ExecResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := b.Exec(ctx, id, &workshop.ExecRequest{
			Command: []string{"sh", "-c", "sleep 300 & sleep 301 & (setsid sleep 302 &) ; sleep 303"}, Timeout: 3 * time.Second})
		done <- outcome{res, err}
	}()
	// Positive control: while it runs, ps sees all of them.
	time.Sleep(1500 * time.Millisecond)
	want := []string{"sleep 299", "sleep 300", "sleep 301", "sleep 302", "sleep 303"}
	got := sleepers(t, b, id)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("while running: ps shows %v, want %v", got, want)
	}
	o := <-done
	if o.err != nil || !o.res.TimedOut || o.res.ExitCode != -1 || o.res.KillError != "" {
		t.Fatalf("timed-out exec: %+v %v", o.res, o.err)
	}
	t.Logf("timed out: %s", o.res.KillSummary())
	// busybox sh execs its last command: no sh is left to kill.
	if s := o.res.KillSummary(); s != "killed 4 processes (sleep ×4)" {
		t.Fatalf("kill summary %q, want the 4 sleeps", s)
	}
	if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
		t.Fatalf("after the kill: ps shows %v, want only the other exec's sleep 299", got)
	}

	// Cancellation kills too; argv without a shell is tagged by the wrapper.
	cctx, ccancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, ccancel)
	_, err := b.Exec(cctx, id, &workshop.ExecRequest{Command: []string{"sleep", "305"}, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "killed 1 process (sleep)") {
		t.Fatalf("cancelled exec: err = %v, want one naming what was killed", err)
	}
	if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
		t.Fatalf("after the cancellation: ps shows %v", got)
	}

	// An exponential fork bomb, bounded at 2^7 shells each running a sleep (the
	// workspace pod has no pids limit of its own: this stays kind to the node).
	start := time.Now()
	res, err := b.Exec(ctx, id, &workshop.ExecRequest{
		Command: []string{"sh", "-c", `b() { if [ ${#1} -lt 7 ]; then b x$1 & b x$1; else sleep 300; fi; }; b`}, Timeout: 3 * time.Second})
	if err != nil || !res.TimedOut || res.KillError != "" || len(res.Killed) < 100 {
		t.Fatalf("fork bomb: %+v %v", res, err)
	}
	t.Logf("fork bomb: %s in %s", res.KillSummary(), time.Since(start).Round(time.Millisecond))
	if got := sleepers(t, b, id); !slices.Equal(got, []string{"sleep 299"}) {
		t.Fatalf("after the fork bomb's kill: ps shows %d sleeps (%v...)", len(got), got[:min(len(got), 5)])
	}
}
