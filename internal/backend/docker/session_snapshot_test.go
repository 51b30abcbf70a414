package docker

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// freshSnapshot lists every session now (what a burst of reads shares).
func freshSnapshot(t *testing.T, b *Backend) *snapshot {
	t.Helper()
	b.reads.mu.Lock()
	seq := b.reads.seq
	b.reads.mu.Unlock()
	parts, err := b.listParts(testCtx(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return &snapshot{seq: seq, byID: parts, started: time.Now(), done: make(chan struct{})}
}

// burst reads every id concurrently, twice, through GetSession.
func burst(t *testing.T, b *Backend, ids []string) map[string]*workshop.Session {
	t.Helper()
	ctx := testCtx(t, time.Minute)
	out := map[string]*workshop.Session{}
	var mu sync.Mutex
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := b.GetSession(ctx, id)
				if err != nil {
					t.Errorf("read %s: %v", id, err)
					return
				}
				mu.Lock()
				out[id] = s
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	return out
}

// A session read through a snapshot equals the same session read by itself, for the
// template shapes: plain, published (web) ports, Compose services, a stopped workspace,
// an expiry moved to a lease.
func TestSnapshotReadEqualsSessionRead(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, 5*time.Minute)
	plain := applyTemplate(t, b, &workshop.Template{Name: "dtest-snap-plain", Workspace: workshop.Workspace{Image: imageShell1}})
	ports := applyTemplate(t, b, &workshop.Template{Name: "dtest-snap-ports", Workspace: workshop.Workspace{Image: imageHealthy, Ports: []int{8080, 9090}}})
	dir := testComposeDir(t)
	compose := applyTemplate(t, b, &workshop.Template{
		Name: "dtest-snap-compose-" + workshop.NewSessionID()[:6], Workspace: workshop.Workspace{Image: imageShell1},
		Compose: testCompose, ComposeDir: dir, Resources: workshop.Resources{CPU: "600m", Memory: "256Mi"},
	})
	// Participants unique to this run: SessionsOf must not meet an earlier run's remnants.
	run := workshop.NewSessionID()[:6]
	specs := []*workshop.SessionSpec{newSpec(plain, "plain-"+run), newSpec(ports, "ports-"+run), newSpec(compose, "compose-"+run),
		newSpec(plain, "stopped-"+run), newSpec(plain, "leased-"+run)}
	specs[2].Resources = workshop.Resources{CPU: "600m", Memory: "256Mi", Storage: "1Gi"}
	var ids []string
	for i, err := range runAll(len(specs), func(i int) error {
		t.Cleanup(func() { deleteAndCheck(t, b, specs[i].ID) })
		_, err := b.CreateSession(ctx, specs[i])
		return err
	}) {
		if err != nil {
			t.Fatalf("create %s: %v", specs[i].Participant, err)
		}
		ids = append(ids, specs[i].ID)
	}
	if err := b.cli.ContainerStop(ctx, workshop.SessionObjectName(specs[3].ID), container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	up := *specs[4]
	up.ExpiresAt = up.ExpiresAt.Add(time.Hour)
	if _, err := b.UpdateSession(ctx, up.ID, &up); err != nil {
		t.Fatal(err)
	}

	snap := freshSnapshot(t, b)
	for _, spec := range specs {
		want, err := b.readSession(ctx, spec.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := b.readFromSnapshot(ctx, spec.ID, snap)
		if err != nil || !ok {
			t.Fatalf("%s: snapshot read: ok %v, %v", spec.Participant, ok, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: through the snapshot\n%+v\nby itself\n%+v", spec.Participant, got, want)
		}
		// SessionsOf (the adoption's look-up at create) answers the same from it.
		listed, err := b.listSessions(ctx, workshop.LabelParticipant+"="+spec.Participant)
		if err != nil {
			t.Fatal(err)
		}
		wantOf := workshop.SessionsOf(listed, spec.Template.ID, spec.Participant)
		gotOf := b.sessionsOfSnapshot(snap, spec.Template.ID, spec.Participant)
		if len(wantOf) != 1 || !reflect.DeepEqual(gotOf, wantOf) {
			t.Errorf("%s: SessionsOf through the snapshot\n%s\nby lists\n%s", spec.Participant, dump(gotOf), dump(wantOf))
		}
	}
	// A session this process changes after the listing is left out of it.
	if err := b.ClaimSession(ctx, specs[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := b.sessionsOfSnapshot(snap, plain.ID, specs[0].Participant); len(got) != 0 {
		t.Errorf("SessionsOf from a snapshot older than a change: %+v", got)
	}
	// Positive control: the comparison sees a difference where there is one.
	if want, _ := b.readSession(ctx, specs[0].ID, nil); reflect.DeepEqual(want, mustSnapshotRead(t, b, specs[1].ID, snap)) {
		t.Fatal("two different sessions compare equal")
	}

	// Through GetSession: a burst shares listings, and answers the same.
	b.reads.mu.Lock()
	hits0, lists0 := b.reads.hits, b.reads.lists
	b.reads.mu.Unlock()
	got := burst(t, b, ids)
	b.reads.mu.Lock()
	hits, lists := b.reads.hits-hits0, b.reads.lists-lists0
	b.reads.mu.Unlock()
	t.Logf("burst of %d reads: %d from a snapshot, %d listings", 2*len(ids), hits, lists)
	if hits == 0 || lists == 0 {
		t.Fatalf("a burst of reads used no snapshot (hits %d, listings %d)", hits, lists)
	}
	for _, spec := range specs {
		want, err := b.readSession(ctx, spec.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[spec.ID], want) {
			t.Errorf("%s: GetSession in a burst\n%+v\nby itself\n%+v", spec.Participant, got[spec.ID], want)
		}
	}
	if got[specs[3].ID].Status != workshop.StatusStopped || !got[specs[4].ID].ExpiresAt.Equal(up.ExpiresAt) || len(got[specs[2].ID].Containers) != 3 {
		t.Fatalf("stopped %s, leased expiry %s, compose containers %v", got[specs[3].ID].Status, got[specs[4].ID].ExpiresAt, got[specs[2].ID].Containers)
	}
}

func mustSnapshotRead(t *testing.T, b *Backend, id string, snap *snapshot) *workshop.Session {
	t.Helper()
	s, ok, err := b.readFromSnapshot(testCtx(t, time.Minute), id, snap)
	if err != nil || !ok {
		t.Fatalf("snapshot read of %s: ok %v, %v", id, ok, err)
	}
	return s
}

// A read right after a change made by this process sees the change, even while other
// reads keep a snapshot alive (a long TTL makes every snapshot outlive the change);
// with the tracking off, the same sequence reads stale: the control. Run with -race.
func TestSnapshotNeverStaleAfterOwnChange(t *testing.T) {
	b := newTestBackend(t)
	b.reads.ttl = time.Minute
	ctx := testCtx(t, 5*time.Minute)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-snap-stale", Workspace: workshop.Workspace{Image: imageShell1}})
	a, other := newSpec(tpl, "changed"), newSpec(tpl, "reader")
	createSession(t, b, a)
	createSession(t, b, other)

	// round: readers keep reading both sessions (a snapshot is listed and shared), the
	// expiry of a changes, and a read right after must see it. It returns the number
	// of stale reads.
	round := func(k int) int {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					for _, id := range []string{a.ID, other.ID} {
						if _, err := b.GetSession(ctx, id); err != nil {
							t.Errorf("background read: %v", err)
						}
					}
				}
			}()
		}
		defer func() { close(stop); wg.Wait() }()
		// Make sure a snapshot holding the old expiry exists before the change.
		for i := 0; ; i++ {
			b.reads.mu.Lock()
			ready := b.reads.hits > 0 && b.reads.snap != nil
			b.reads.mu.Unlock()
			if ready {
				break
			}
			if i > 500 {
				t.Fatal("no snapshot was ever used")
			}
			time.Sleep(10 * time.Millisecond)
		}
		up := *a
		up.ExpiresAt = a.ExpiresAt.Add(time.Duration(k) * time.Minute)
		if _, err := b.UpdateSession(ctx, a.ID, &up); err != nil {
			t.Fatal(err)
		}
		stale := 0
		for i := 0; i < 5; i++ {
			s, err := b.GetSession(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !s.ExpiresAt.Equal(up.ExpiresAt) {
				stale++
			}
		}
		return stale
	}
	for k := 1; k <= 3; k++ {
		if n := round(k); n > 0 {
			t.Errorf("round %d: %d of 5 reads right after the update were stale", k, n)
		}
	}
	// Control: without the tracking, the shared snapshot answers the old expiry.
	b.reads.mu.Lock()
	b.reads.untracked, b.reads.snap = true, nil
	b.reads.mu.Unlock()
	if n := round(4); n == 0 {
		t.Fatal("control: with the tracking off no read was stale: the test cannot tell")
	} else {
		t.Logf("control: with the tracking off, %d of 5 reads were stale", n)
	}
}

// An outside change (another client) shows in the first read that starts after the
// snapshot's TTL, and a stopped workspace at once (it is always inspected).
func TestSnapshotSeesOutsideChanges(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, 5*time.Minute)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-snap-outside", Workspace: workshop.Workspace{Image: imageShell1}})
	var specs []*workshop.SessionSpec
	var ids []string
	for i := 0; i < 3; i++ {
		s := newSpec(tpl, fmt.Sprintf("out-%d", i))
		createSession(t, b, s)
		specs, ids = append(specs, s), append(ids, s.ID)
	}
	got := burst(t, b, ids)
	for _, id := range ids {
		if got[id].Status != workshop.StatusRunning {
			t.Fatalf("before: %+v", got[id])
		}
	}
	// Stopped by another client: seen by the next burst, within the snapshot's TTL.
	other, err := New(Config{Host: b.cfg.Host, SubnetPool: testPool, NetworkPrefix: testNetworkPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.cli.ContainerStop(ctx, workshop.SessionObjectName(specs[0].ID), container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if got = burst(t, b, ids); got[specs[0].ID].Status != workshop.StatusStopped {
		t.Fatalf("stopped outside: %+v", got[specs[0].ID])
	}
	// Its network removed by another client: degraded once the TTL has passed.
	if err := other.cli.NetworkRemove(ctx, b.networkName(specs[0].ID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(snapshotTTL + 100*time.Millisecond)
	if got = burst(t, b, ids); got[specs[0].ID].Status != workshop.StatusDegraded || got[specs[1].ID].Status != workshop.StatusRunning {
		t.Fatalf("network removed outside: %+v / %+v", got[specs[0].ID], got[specs[1].ID])
	}
	// The workspace removed too: degraded, then gone entirely: not found.
	if err := other.DeleteSession(ctx, specs[1].ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(snapshotTTL + 100*time.Millisecond)
	errs := runAll(len(ids), func(i int) error { _, err := b.GetSession(ctx, ids[i]); return err })
	wantNotFound(t, errs[1], "a session deleted by another client")
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("reads of the others: %v", errs)
	}
}

func dump(list []*workshop.Session) string {
	var out []string
	for _, s := range list {
		out = append(out, fmt.Sprintf("%+v", *s))
	}
	return strings.Join(out, "\n")
}
