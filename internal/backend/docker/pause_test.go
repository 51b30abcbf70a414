package docker

import (
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestPauseExpiryCutShort: the unlucky instructor's Ctrl-C in the middle of a stop or a
// start of a session whose expiry pauses, on the real daemon. A stop cut short after
// its pause record (containers still running) reads running and is completed by the
// next stop, which keeps the first record; a start cut short after it moved the expiry
// (containers still stopped) reads stopped and not paused, and the next start does not
// move the expiry a second time. The control: a session without pause_expiry records
// nothing on its stop.
func TestPauseExpiryCutShort(t *testing.T) {
	b := newTestBackend(t)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-pause", Workspace: workshop.Workspace{Image: imageShell1}})
	spec := newSpec(tpl, "ada")
	spec.Persistence = &workshop.Persistence{Size: "64Mi", RetainDays: 1, PauseExpiry: true}
	createSession(t, b, spec)
	control := newSpec(tpl, "bob")
	control.Persistence = &workshop.Persistence{Size: "64Mi", RetainDays: 1}
	createSession(t, b, control)
	read := func(id string) *workshop.Session {
		t.Helper()
		s, err := b.GetSession(testCtx(t, 30*time.Second), id)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// The stop cut short: the record is written, no container stopped.
	done := b.reads.mutation(spec.ID) // as StopSession does around it
	if err := b.recordPause(testCtx(t, 30*time.Second), spec.ID); err != nil {
		t.Fatal(err)
	}
	done()
	s := read(spec.ID)
	if s.StoppedAt.IsZero() || s.Stopped || workshop.ExpiryPaused(s) || s.Status != workshop.StatusRunning {
		t.Fatalf("after a cut-short stop: stopped-at %s, stopped %v, status %s (want a record, running)", s.StoppedAt, s.Stopped, s.Status)
	}
	first := s.StoppedAt
	time.Sleep(1100 * time.Millisecond) // a later record would differ by a second
	if err := b.StopSession(testCtx(t, time.Minute), spec.ID); err != nil {
		t.Fatal(err)
	}
	s = read(spec.ID)
	if !workshop.ExpiryPaused(s) || !s.StoppedAt.Equal(first) || s.Status != workshop.StatusStopped {
		t.Fatalf("after the next stop: paused %v, stopped-at %s (want %s), status %s", workshop.ExpiryPaused(s), s.StoppedAt, first, s.Status)
	}
	if err := b.StopSession(testCtx(t, time.Minute), control.ID); err != nil {
		t.Fatal(err)
	}
	if c := read(control.ID); !c.StoppedAt.IsZero() || !c.Stopped {
		t.Fatalf("control without pause_expiry: stopped-at %s, stopped %v", c.StoppedAt, c.Stopped)
	}

	// The start cut short: the expiry moved, the record cleared, no container started.
	time.Sleep(1100 * time.Millisecond)
	moved := workshop.ResumedExpiry(s.ExpiresAt, s.StoppedAt, time.Now())
	if !moved.After(s.ExpiresAt) {
		t.Fatalf("resumed expiry %s not after %s", moved, s.ExpiresAt)
	}
	done = b.reads.mutation(spec.ID) // as StartSession does around it
	if err := b.replaceLease(testCtx(t, 30*time.Second), spec.ID, &workshop.SessionSpec{}, moved, &time.Time{}); err != nil {
		t.Fatal(err)
	}
	done()
	s = read(spec.ID)
	if !s.StoppedAt.IsZero() || !s.Stopped || workshop.ExpiryPaused(s) || !s.ExpiresAt.Equal(moved) {
		t.Fatalf("after a cut-short start: stopped-at %s, stopped %v, expiry %s (want none, stopped, %s)", s.StoppedAt, s.Stopped, s.ExpiresAt, moved)
	}
	time.Sleep(1100 * time.Millisecond)
	s, err := b.StartSession(testCtx(t, time.Minute), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Stopped || !s.ExpiresAt.Equal(moved) || s.Status != workshop.StatusRunning {
		t.Fatalf("after the next start: stopped %v, expiry %s (want %s, moved once), status %s", s.Stopped, s.ExpiresAt, moved, s.Status)
	}
	// One lease is left (the older ones are removed as a new one is made).
	vols, err := b.sessionVolumes(testCtx(t, 30*time.Second), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	leases := 0
	for _, v := range vols {
		if isLease(v) {
			leases++
		}
	}
	if leases != 1 {
		t.Fatalf("%d leases after stops and starts, want 1", leases)
	}
}
