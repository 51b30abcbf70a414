package workshop

import (
	"testing"
	"time"
)

func TestPersistenceLabelsRoundTrip(t *testing.T) {
	p := &Persistence{Size: "1Gi", RetainDays: 3}
	got := PersistenceFromLabels(WithLabels(nil, p.Labels()...))
	if got == nil || *got != *p {
		t.Fatalf("round trip: %+v", got)
	}
	for _, l := range []map[string]string{
		nil,
		{LabelRetainDays: "3"},
		{LabelPersistentSize: "1Gi"},
		{LabelPersistentSize: "1Gi", LabelRetainDays: "-1"},
		{LabelPersistentSize: "1Gi", LabelRetainDays: "x"},
	} {
		if got := PersistenceFromLabels(l); got != nil {
			t.Errorf("%v: %+v, want nil", l, got)
		}
	}
	if (*Persistence)(nil).Labels() != nil {
		t.Error("nil persistence has labels")
	}
}

func TestPersistenceValidate(t *testing.T) {
	for _, c := range []struct {
		p  *Persistence
		ok bool
	}{
		{nil, true},
		{&Persistence{Size: "1Gi", RetainDays: 0}, true},
		{&Persistence{Size: "1Gi", RetainDays: MaxRetainDays}, true},
		{&Persistence{Size: "big", RetainDays: 1}, false},
		{&Persistence{Size: "1Mi", RetainDays: 1}, false},
		{&Persistence{Size: "1Gi", RetainDays: MaxRetainDays + 1}, false},
		{&Persistence{Size: "1Gi", RetainDays: -1}, false},
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.p, err)
		}
	}
}

func TestDeleteAt(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := DeleteAt(&Session{ExpiresAt: exp}); !got.Equal(exp) {
		t.Errorf("without persistence: %s", got)
	}
	if got := DeleteAt(&Session{ExpiresAt: exp, Persistence: &Persistence{Size: "1Gi", RetainDays: 2}}); !got.Equal(exp.Add(48 * time.Hour)) {
		t.Errorf("retain 2 days: %s", got)
	}
	if !DeleteAt(&Session{}).IsZero() || !DeleteAt(nil).IsZero() {
		t.Error("no expiry: not zero")
	}
}

// TestExpiryPause: labels round-trip pause_expiry; a stop pauses only a session with
// PauseExpiry before its expiry; a resume moves the expiry by the time stopped; a
// session is paused only while stopped with a record.
func TestExpiryPause(t *testing.T) {
	p := &Persistence{Size: "1Gi", RetainDays: 2, PauseExpiry: true}
	if got := PersistenceFromLabels(WithLabels(nil, p.Labels()...)); got == nil || *got != *p {
		t.Fatalf("round trip: %+v", got)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	labels := func(p *Persistence, exp time.Time) map[string]string {
		return WithLabels(SessionLabels("s1", "ada", "t", exp), p.Labels()...)
	}
	if !PausesAt(labels(p, now.Add(time.Hour)), now) {
		t.Error("a stop before expiry does not pause")
	}
	if PausesAt(labels(p, now.Add(-time.Second)), now) || PausesAt(labels(p, now), now) {
		t.Error("a stop at or after expiry pauses")
	}
	if PausesAt(labels(&Persistence{Size: "1Gi", RetainDays: 2}, now.Add(time.Hour)), now) || PausesAt(labels(nil, now.Add(time.Hour)), now) {
		t.Error("a session without pause_expiry pauses")
	}
	exp := now.Add(time.Hour)
	if got := ResumedExpiry(exp, now, now.Add(90*time.Minute+300*time.Millisecond)); !got.Equal(exp.Add(90 * time.Minute)) {
		t.Errorf("resumed expiry %s, want %s", got, exp.Add(90*time.Minute))
	}
	if got := ResumedExpiry(exp, time.Time{}, now); !got.Equal(exp) {
		t.Errorf("no pause recorded: %s", got)
	}
	if at, ok := ParseStoppedAt(map[string]string{LabelStoppedAt: "1764583200"}); !ok || at.Unix() != 1764583200 {
		t.Errorf("stopped-at: %v %v", at, ok)
	}
	for _, v := range []string{"", "x", "0", "-5"} {
		if _, ok := ParseStoppedAt(map[string]string{LabelStoppedAt: v}); ok {
			t.Errorf("stopped-at %q accepted", v)
		}
	}
	s := &Session{Persistence: p, Stopped: true, StoppedAt: now}
	if !ExpiryPaused(s) {
		t.Error("stopped with a record: not paused")
	}
	for _, o := range []*Session{
		{Persistence: p, StoppedAt: now},                                        // resumed, record not yet cleared
		{Persistence: p, Stopped: true},                                         // stopped at expiry
		{Persistence: &Persistence{Size: "1Gi"}, Stopped: true, StoppedAt: now}, // no pause_expiry
		nil,
	} {
		if ExpiryPaused(o) {
			t.Errorf("%+v paused", o)
		}
	}
}
