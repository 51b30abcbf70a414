package swarm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Integration tests against the swarm-mode test engine of scripts/swarm-up.sh
// (NALABO_SWARM_HOST). With NALABO_SWARM_TESTS=1 a missing engine fails the test.

const (
	imageShell1 = "nalabo-test/shell:1"
	testPool    = "10.217.0.0/16"
	testPrefix  = "nalabo-stest"
)

func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	// On the worker of SWARM_NODES=2 scripts/swarm-up.sh too: sessions may land there.
	cfg := Config{Host: acctest.SwarmHost(t), SubnetPool: testPool, NetworkPrefix: testPrefix, NodeHosts: acctest.SwarmNodeHosts()}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Ping(ctx); err != nil {
		t.Fatalf("swarm manager: %v", err)
	}
	return b
}

func testTemplate(t *testing.T, b *Backend, constraints ...string) *workshop.Template {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "swarmtest", Infrastructure: workshop.InfraSwarm, Owner: "0a1b2c3d",
		Workspace:            workshop.Workspace{Image: imageShell1},
		Resources:            workshop.Resources{CPU: "250m", Memory: "64Mi", Storage: "1Gi"},
		PlacementConstraints: constraints,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	got, err := b.GetTemplate(ctx, tpl.ID)
	if err != nil || got.Digest != tpl.Digest {
		t.Fatalf("GetTemplate(%s) = %v, %v", tpl.ID, got, err)
	}
	return tpl
}

// leftovers counts what is labelled with the session: services, containers, networks,
// volumes (and configs).
func leftovers(t *testing.T, b *Backend, id string) int {
	t.Helper()
	n, err := acctest.SwarmCount(context.Background(), b.cli, workshop.LabelSession+"="+id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSwarmBackend_sessionLifecycle(t *testing.T) {
	b := newTestBackend(t)
	tpl := testTemplate(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := workshop.NewSessionID()
	spec := &workshop.SessionSpec{ID: id, Template: tpl, Participant: "ada", Resources: tpl.Resources, Duration: time.Hour}
	s, err := b.CreateSession(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), id) })
	if s.Status != workshop.StatusRunning || s.Incomplete || s.Resources.CPU != "250m" || s.Resources.Memory != "64Mi" {
		t.Fatalf("created session: %+v", s)
	}
	svc, _, err := b.cli.ServiceInspectWithRaw(ctx, workshop.SessionObjectName(id), swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := svc.Spec.TaskTemplate.Resources; r.Limits.NanoCPUs != 250e6 || r.Reservations.MemoryBytes != 64<<20 || r.Limits.Pids == 0 {
		t.Fatalf("service resources: %+v %+v", r.Limits, r.Reservations)
	}
	res, err := b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"sh", "-c", "hostname; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "nalabo-"+id) || !strings.Contains(res.Stdout, "25000") {
		t.Fatalf("exec: %+v", res)
	}
	st, err := b.SessionStats(ctx, id)
	if err != nil || st.Containers != 1 || st.MemoryBytes <= 0 || !st.HasCPUSeconds {
		t.Fatalf("SessionStats: %+v, %v", st, err)
	}
	list, err := b.ListSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range list {
		if l.ID == id {
			found = l.Status == workshop.StatusRunning && !l.Incomplete
		}
	}
	if !found {
		t.Fatalf("ListSessions does not show %s running: %+v", id, list)
	}
	// Update: new limits through a service update; the new task runs them.
	spec.Resources.CPU = "500m"
	spec.ExpiresAt = time.Now().Add(2 * time.Hour).Truncate(time.Second)
	s, err = b.UpdateSession(ctx, id, spec)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.CPU != "500m" || !s.ExpiresAt.Equal(spec.ExpiresAt) {
		t.Fatalf("updated session: %+v", s)
	}
	res, err = b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max"}})
	if err != nil || !strings.Contains(res.Stdout, "50000") {
		t.Fatalf("exec after update: %+v, %v", res, err)
	}
	if n := leftovers(t, b, id); n == 0 {
		t.Fatal("control: the live session has no labelled objects; the leftover count cannot fail")
	}
	if err := b.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := leftovers(t, b, id); n != 0 {
		t.Fatalf("%d objects of session %s left after delete", n, id)
	}
	if _, err := b.GetSession(ctx, id); !errors.Is(err, workshop.ErrNotFound) {
		t.Fatalf("GetSession after delete: %v", err)
	}
	if err := b.DeleteSession(ctx, id); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestSwarmBackend_unplaceable(t *testing.T) {
	b := newTestBackend(t)
	tpl := testTemplate(t, b, "node.labels.nalabo-class==nowhere")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := workshop.NewSessionID()
	start := time.Now()
	_, err := b.CreateSession(ctx, &workshop.SessionSpec{ID: id, Template: tpl, Participant: "bob", Resources: tpl.Resources, Duration: time.Hour})
	if err == nil {
		_ = b.DeleteSession(context.Background(), id)
		t.Fatal("a session no node can run was created")
	}
	for _, want := range []string{id, "no suitable node", "node.labels.nalabo-class==nowhere"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the failure took %s", d)
	}
	if n := leftovers(t, b, id); n != 0 {
		t.Fatalf("%d objects of session %s left after the failed create", n, id)
	}
}
