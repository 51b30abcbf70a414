package reconciler

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// storageSession creates a session with a storage budget and deletes it at the end.
func storageSession(t *testing.T, b *docker.Backend, tpl *workshop.Template, participant, storage string) string {
	t.Helper()
	spec := &workshop.SessionSpec{
		ID: workshop.NewSessionID(), Template: tpl, Participant: participant,
		Resources: workshop.Resources{CPU: "250m", Memory: "64Mi", Storage: storage},
		CreatedAt: time.Now().UTC(), Duration: time.Hour,
	}
	t.Cleanup(func() { _ = b.DeleteSession(ctxFor(t, time.Minute), spec.ID) })
	if _, err := b.CreateSession(ctxFor(t, 2*time.Minute), spec); err != nil {
		t.Fatalf("create session of %s: %v", participant, err)
	}
	return spec.ID
}

func gather(t *testing.T, r *Reconciler) map[string]*dto.MetricFamily {
	t.Helper()
	list, err := r.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range list {
		out[mf.GetName()] = mf
	}
	return out
}

// TestDockerStorageOverQuota: on a driver that does not cap storage (overlay2 on ext4),
// a session writing more than its budget is measured, marked over_quota (status and
// metric) and, with --stop-over-quota, stopped; a session under its budget (the
// positive control) stays running and unmarked.
func TestDockerStorageOverQuota(t *testing.T) {
	dockerIntegration(t)
	b := newDocker(t)
	name := acctest.RandName("rtest-quota")
	tpl := dockerTemplate(t, b, name)
	over := storageSession(t, b, tpl, "ada", "64Mi")
	under := storageSession(t, b, tpl, "grace", "64Mi")
	s, err := b.GetSession(ctxFor(t, time.Minute), over)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("storage_enforced = %v", s.StorageEnforced)
	// 48 MiB in the writable layer and 32 MiB in the workspace volume: 80 MiB > 64 MiB,
	// and each part alone fits a capped layer.
	res, err := b.Exec(ctxFor(t, 2*time.Minute), over, &workshop.ExecRequest{Command: []string{"sh", "-c",
		"dd if=/dev/zero of=/tmp/fill bs=1048576 count=48 && dd if=/dev/zero of=/workspace/fill bs=1048576 count=32 && sync"},
		Timeout: 90 * time.Second})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("write 80 MiB: %v %+v", err, res)
	}

	cfg := testConfig(name)
	cfg.StorageInterval = time.Minute
	r := New(cfg, []workshop.Backend{b}, nil, nil)
	if err := r.RunOnce(ctxFor(t, 3*time.Minute))[0].Err(); err != nil {
		t.Fatalf("pass: %v", err)
	}
	status := func(id string) string {
		s, err := b.GetSession(ctxFor(t, time.Minute), id)
		if err != nil {
			t.Fatal(err)
		}
		return s.Status
	}
	if st := status(over); st != workshop.StatusOverQuota {
		t.Fatalf("session over its budget: status %q, want %q", st, workshop.StatusOverQuota)
	}
	if st := status(under); st != workshop.StatusRunning {
		t.Fatalf("positive control: session under its budget has status %q", st)
	}
	list, err := b.ListSessions(ctxFor(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.ID == over && s.Status != workshop.StatusOverQuota {
			t.Fatalf("ListSessions: status %q", s.Status)
		}
	}
	mfs := gather(t, r)
	bytes, ok := value(mfs, "nalabo_session_storage_bytes", map[string]string{"session": over})
	if !ok || bytes < 80<<20 {
		t.Fatalf("nalabo_session_storage_bytes of the session over budget = %v (present %v), want >= 80 MiB", bytes, ok)
	}
	t.Logf("nalabo_session_storage_bytes{session=%s} = %.0f (%.1f MiB)", over, bytes, bytes/(1<<20))
	wantValue(t, mfs, "nalabo_session_storage_budget_bytes", map[string]string{"session": over}, 64<<20)
	wantValue(t, mfs, "nalabo_session_over_quota", map[string]string{"session": over}, 1)
	wantValue(t, mfs, "nalabo_session_over_quota", map[string]string{"session": under}, 0)
	if ub, ok := value(mfs, "nalabo_session_storage_bytes", map[string]string{"session": under}); !ok || ub >= 64<<20 {
		t.Fatalf("session under budget: %v bytes (present %v)", ub, ok)
	}
	wantValue(t, mfs, "nalabo_sessions", map[string]string{"template": name, "status": workshop.StatusOverQuota}, 1)

	// Marked but not stopped without the flag.
	ins, err := acctest.Client(t).ContainerInspect(ctxFor(t, time.Minute), workshop.SessionObjectName(over))
	if err != nil || !ins.State.Running {
		t.Fatalf("without --stop-over-quota the session must keep running: %v %+v", err, ins.State)
	}

	// --stop-over-quota stops it, and only it.
	cfg.StopOverQuota = true
	r = New(cfg, []workshop.Backend{b}, nil, nil)
	if err := r.RunOnce(ctxFor(t, 3*time.Minute))[0].Err(); err != nil {
		t.Fatalf("pass with --stop-over-quota: %v", err)
	}
	for id, wantRunning := range map[string]bool{over: false, under: true} {
		ins, err := acctest.Client(t).ContainerInspect(ctxFor(t, time.Minute), workshop.SessionObjectName(id))
		if err != nil {
			t.Fatal(err)
		}
		if ins.State.Running != wantRunning {
			t.Fatalf("session %s: running %v, want %v", id, ins.State.Running, wantRunning)
		}
	}
	if st := status(over); st != workshop.StatusOverQuota {
		t.Fatalf("stopped session: status %q, want %q", st, workshop.StatusOverQuota)
	}
}
