package reconciler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/swarm"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestSwarmReap: the reconciler lists the Swarm backend's sessions and reaps the expired
// one, leaving the live one (the test swarm of scripts/swarm-up.sh, NALABO_SWARM_HOST).
func TestSwarmReap(t *testing.T) {
	cfg := swarm.Config{Host: acctest.SwarmHost(t), SubnetPool: "10.222.0.0/16", NetworkPrefix: "nalabo-rswarm",
		NodeHosts: acctest.SwarmNodeHosts()}
	b, err := swarm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	name := acctest.RandName("rswarm")
	tpl, err := b.ApplyTemplate(ctxFor(t, time.Minute), &workshop.Template{
		Name: name, Infrastructure: workshop.InfraSwarm, Owner: "1a2b3c4d",
		Workspace: workshop.Workspace{Image: acctest.ShellImage1},
		Resources: workshop.Resources{CPU: "250m", Memory: "64Mi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	create := func(participant string, createdAt time.Time, lifetime time.Duration) string {
		createdAt = createdAt.UTC().Truncate(time.Second)
		spec := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: participant,
			Resources: tpl.Resources, CreatedAt: createdAt, Duration: lifetime, ExpiresAt: createdAt.Add(lifetime)}
		t.Cleanup(func() { _ = b.DeleteSession(context.Background(), spec.ID) })
		if _, err := b.CreateSession(ctxFor(t, 2*time.Minute), spec); err != nil {
			t.Fatal(err)
		}
		return spec.ID
	}
	now := time.Now()
	expired := create("ada", now.Add(-2*time.Minute), time.Minute)
	alive := create("grace", now, time.Hour)

	rc := testConfig(name)
	rc.Backends = []workshop.InfrastructureType{workshop.InfraSwarm}
	r := New(rc, []workshop.Backend{b}, nil, nil)
	res := r.RunOnce(ctxFor(t, 3*time.Minute))[0]
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if res.Listed != 2 || len(res.Reaped) != 1 || res.Reaped[0] != expired {
		t.Fatalf("pass: %+v", res)
	}
	if _, err := b.GetSession(ctxFor(t, time.Minute), expired); !errors.Is(err, workshop.ErrNotFound) {
		t.Fatalf("the expired session is still there: %v", err)
	}
	if s, err := b.GetSession(ctxFor(t, time.Minute), alive); err != nil || s.Status != workshop.StatusRunning {
		t.Fatalf("the live session: %+v, %v", s, err)
	}
}
