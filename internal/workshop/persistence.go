package workshop

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Persistent homes (issue 17): a session with Persistence keeps its workspace's data in
// a volume (Docker) or PersistentVolumeClaim (Kubernetes) that outlives its containers.
// It can be stopped and resumed in place (SessionPauser); at expiry the reconciler stops
// it instead of deleting it, and deletes it RetainDays after the expiry. Both facts are
// labels on every object of the session, so the reconciler needs no Terraform state.
const (
	// LabelPersistentSize is the persistent home's size (a storage quantity).
	LabelPersistentSize = LabelPrefix + "persistent-size"
	// LabelRetainDays is how many days after expiry the stopped session and its data are kept.
	LabelRetainDays = LabelPrefix + "retain-days"
	// LabelPauseExpiry ("true") marks a session whose lifetime pauses while it is stopped.
	LabelPauseExpiry = LabelPrefix + "pause-expiry"
	// LabelStoppedAt (unix seconds) is when a session with PauseExpiry was stopped before
	// its expiry: its lifetime is paused since then. Removed when it resumes.
	LabelStoppedAt = LabelPrefix + "stopped-at"
)

// Session states a configuration asks for.
const (
	StateRunning = "running"
	StateStopped = "stopped"
)

// DefaultRetainDays is how long an expired persistent session is kept when unset.
const DefaultRetainDays = 7

// MaxRetainDays bounds retain_days.
const MaxRetainDays = 365

// Persistence is a session's persistent home.
type Persistence struct {
	// Size of the home, a storage quantity ("1Gi"). Kubernetes requests it for the
	// claim; Docker volumes cannot be capped, the reconciler's storage metering counts it.
	Size string
	// RetainDays: the session is stopped at expiry and deleted RetainDays later.
	RetainDays int
	// PauseExpiry: while the session is stopped in place (before it expires), its
	// lifetime does not run: it does not expire while stopped, and a resume moves its
	// expiry by the time it stayed stopped. It is still deleted at its first expiry plus
	// RetainDays when it is never resumed (ExpiryPaused).
	PauseExpiry bool
}

// Validate checks the size and the retention.
func (p *Persistence) Validate() error {
	if p == nil {
		return nil
	}
	if _, err := ParseStorage(p.Size); err != nil {
		return fmt.Errorf("size: %w", err)
	}
	if p.RetainDays < 0 || p.RetainDays > MaxRetainDays {
		return fmt.Errorf("retain_days: %d is not between 0 and %d", p.RetainDays, MaxRetainDays)
	}
	return nil
}

// Labels are the persistence labels (none for a nil Persistence).
func (p *Persistence) Labels() []string {
	if p == nil {
		return nil
	}
	l := []string{LabelPersistentSize, p.Size, LabelRetainDays, strconv.Itoa(p.RetainDays)}
	if p.PauseExpiry {
		l = append(l, LabelPauseExpiry, "true")
	}
	return l
}

// Retention is how long after expiry the data is kept.
func (p *Persistence) Retention() time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.RetainDays) * 24 * time.Hour
}

// PersistenceFromLabels reads the persistence labels; nil when the session has none
// (or they are malformed: such a session is treated as not persistent).
func PersistenceFromLabels(l map[string]string) *Persistence {
	size, ok := l[LabelPersistentSize]
	if !ok || size == "" {
		return nil
	}
	days, err := strconv.Atoi(l[LabelRetainDays])
	if err != nil || days < 0 {
		return nil
	}
	return &Persistence{Size: size, RetainDays: days, PauseExpiry: l[LabelPauseExpiry] == "true"}
}

// DeleteAt is when a session is due for deletion: its expiry, plus the retention of a
// persistent session. Zero when the session has no expiry.
func DeleteAt(s *Session) time.Time {
	if s == nil || s.ExpiresAt.IsZero() {
		return time.Time{}
	}
	return s.ExpiresAt.Add(s.Persistence.Retention())
}

// Expiry paused while stopped (Persistence.PauseExpiry): stopping such a session before
// its expiry records when (LabelStoppedAt, Session.StoppedAt); while it stays stopped it
// is not expired, whatever its expires_at says; resuming it moves its expiry by the time
// it stayed stopped (ResumedExpiry) and clears the record. What deletes its data does not
// change (DeleteAt: first expiry plus the retention), so that a pause cannot keep data
// forever: the pause is bounded by the retention. A stop at or after the expiry (the
// reconciler's) records nothing: the session expired, it is not paused.

// ExpiryPaused reports whether s is stopped with its lifetime paused.
func ExpiryPaused(s *Session) bool {
	return s != nil && s.Stopped && s.Persistence != nil && s.Persistence.PauseExpiry && !s.StoppedAt.IsZero()
}

// PausesAt reports whether a stop of a session with these labels at now records a
// pause: it has PauseExpiry and has not expired yet.
func PausesAt(labels map[string]string, now time.Time) bool {
	p := PersistenceFromLabels(labels)
	if p == nil || !p.PauseExpiry {
		return false
	}
	exp, ok := ParseExpiresAt(labels)
	return ok && now.Before(exp)
}

// ParseStoppedAt reads LabelStoppedAt (false when absent or malformed).
func ParseStoppedAt(labels map[string]string) (time.Time, bool) {
	n, err := strconv.ParseInt(labels[LabelStoppedAt], 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// ResumedExpiry is the expiry of a paused session resumed at now: its expiry moved by
// the time it stayed stopped (whole seconds, as the labels keep them).
func ResumedExpiry(expiresAt, stoppedAt, now time.Time) time.Time {
	if stoppedAt.IsZero() || !now.After(stoppedAt) {
		return expiresAt
	}
	return expiresAt.Add(now.Sub(stoppedAt)).Truncate(time.Second)
}

// SessionPauser is implemented by a backend that can stop a session in place and
// resume it (Docker: stop and start its containers; Kubernetes namespace sessions:
// delete and re-create the workspace pod, the home's claim stays).
type SessionPauser interface {
	// StopSession stops the session's containers; its data stays until it is deleted.
	// Stopping a stopped session is not an error.
	StopSession(ctx context.Context, id string) error
	// StartSession starts a stopped session again and waits until it is ready.
	// Starting a running session is not an error.
	StartSession(ctx context.Context, id string) (*Session, error)
}
