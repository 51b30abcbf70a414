package docker

import (
	"reflect"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// A session created by an older version has a lease from its create (revision 1): it
// reads with the lease's expiry, is complete, and an expiry update moves it to revision
// 2 and removes the old lease. A session created now has none until its expiry changes.
func TestLeaseOldAndNewSessions(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, 3*time.Minute)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-lease", Workspace: workshop.Workspace{Image: imageShell1}})

	// New: no lease, the label is the expiry; ListSessions agrees.
	spec := newSpec(tpl, "newer")
	s := createSession(t, b, spec)
	if l := leasesOf(t, b, spec.ID); len(l) != 0 || s.Incomplete || !s.ExpiresAt.Equal(spec.ExpiresAt) {
		t.Fatalf("new session: leases %v, incomplete %v, expires %s", l, s.Incomplete, s.ExpiresAt)
	}
	// What the create returned (built from what it created) is what a read finds.
	if read, err := b.readSession(ctx, spec.ID, nil); err != nil || !reflect.DeepEqual(read, s) {
		t.Fatalf("create returned\n%+v\na read gives\n%+v (%v)", s, read, err)
	}
	listed := listedSession(t, b, spec.ID)
	if listed == nil || listed.Incomplete || !listed.ExpiresAt.Equal(spec.ExpiresAt) || listed.Status != workshop.StatusRunning {
		t.Fatalf("listed new session: %+v", listed)
	}

	// Old: the lease as older versions created it, last at create, at revision 1.
	old := newSpec(tpl, "older")
	createSession(t, b, old)
	if err := b.createLease(ctx, leaseName(old.ID, old.ExpiresAt), objectLabels(old), old.ExpiresAt, 1); err != nil {
		t.Fatal(err)
	}
	// Positive control: the lease, not the label, is what the read reports.
	later := old.ExpiresAt.Add(30 * time.Minute)
	if err := b.createLease(ctx, leaseName(old.ID, later), objectLabels(old), later, 0); err != nil { // revision 0 loses to 1
		t.Fatal(err)
	}
	got, err := b.GetSession(ctx, old.ID)
	if err != nil || got.Incomplete || !got.ExpiresAt.Equal(old.ExpiresAt) {
		t.Fatalf("old session: %+v %v", got, err)
	}
	if err := b.removeVolume(ctx, leaseName(old.ID, later)); err != nil {
		t.Fatal(err)
	}
	up := *old
	up.ExpiresAt = old.ExpiresAt.Add(time.Hour)
	if got, err = b.UpdateSession(ctx, old.ID, &up); err != nil || !got.ExpiresAt.Equal(up.ExpiresAt) {
		t.Fatalf("update old session: %+v %v", got, err)
	}
	if l := leasesOf(t, b, old.ID); !reflect.DeepEqual(l, []string{leaseName(old.ID, up.ExpiresAt) + "@2"}) {
		t.Fatalf("old session's leases after update: %v", l)
	}
	if listed = listedSession(t, b, old.ID); listed == nil || !listed.ExpiresAt.Equal(up.ExpiresAt) || listed.Incomplete {
		t.Fatalf("listed old session: %+v", listed)
	}

	// New again: an expiry in the past through an update is read back as expired, from
	// the lease (revision 1), by GetSession and ListSessions (what the reconciler reaps).
	past := *spec
	past.ExpiresAt = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	if got, err = b.UpdateSession(ctx, spec.ID, &past); err != nil || got.Status != workshop.StatusExpired || !got.ExpiresAt.Equal(past.ExpiresAt) {
		t.Fatalf("expire new session: %+v %v", got, err)
	}
	if l := leasesOf(t, b, spec.ID); !reflect.DeepEqual(l, []string{leaseName(spec.ID, past.ExpiresAt) + "@1"}) {
		t.Fatalf("new session's leases after update: %v", l)
	}
	if listed = listedSession(t, b, spec.ID); listed == nil || listed.Status != workshop.StatusExpired {
		t.Fatalf("listed expired session: %+v", listed)
	}
}

// listedSession is session id as ListSessions reports it (nil when absent).
func listedSession(t *testing.T, b *Backend, id string) *workshop.Session {
	t.Helper()
	list, err := b.ListSessions(testCtx(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.ID == id {
			return s
		}
	}
	return nil
}
