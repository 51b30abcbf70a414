package workshop

import (
	"context"
	"time"
)

// Labels of the adoption rule (see SessionAdopter).
const (
	// LabelCreating marks a Kubernetes session namespace whose create has not finished.
	LabelCreating = LabelPrefix + "creating"
	// LabelClaimed marks a session that a Terraform state holds.
	LabelClaimed = LabelPrefix + "claimed"
	// RoleClaim is the role of the Docker object that claims a session (Docker labels
	// cannot change, so the claim is an object of its own).
	RoleClaim = "claim"
)

// SessionAdopter is implemented by a backend whose sessions a create can adopt: after
// an interrupted apply (terraform killed, a double Ctrl-C), a session may be complete
// on the infrastructure but missing from the state; the re-apply adopts it instead of
// building a second workspace for the participant.
type SessionAdopter interface {
	// SessionsOf lists the sessions, complete or not, claimed or not, of a template ID
	// and a participant.
	SessionsOf(ctx context.Context, templateID, participant string) ([]*Session, error)
	// ClaimSession marks a session as held by a Terraform state (idempotent). A missing
	// session is an error wrapping ErrNotFound.
	ClaimSession(ctx context.Context, id string) error
}

// Adoptable reports whether a create of a session with resources res and lifetime
// duration may adopt s: s is complete, unclaimed, running, has the same CPU, memory
// and storage (storage only where the backend reports it), and a lifetime within a
// minute of duration.
func Adoptable(s *Session, res Resources, duration time.Duration) bool {
	if s == nil || s.Incomplete || s.Claimed || s.Status != StatusRunning {
		return false
	}
	same := func(a, b string) bool { return (a == "" && b == "") || (a != "" && b != "" && SameQuantity(a, b)) }
	// A backend that caps no storage (Swarm) reports none: storage cannot differ there.
	sameStorage := s.Resources.Storage == "" && !s.StorageEnforced || same(s.Resources.Storage, res.Storage)
	if !same(s.Resources.CPU, res.CPU) || !same(s.Resources.Memory, res.Memory) || !sameStorage {
		return false
	}
	if s.CreatedAt.IsZero() || s.ExpiresAt.IsZero() {
		return false
	}
	d := s.ExpiresAt.Sub(s.CreatedAt) - duration
	return d > -time.Minute && d < time.Minute
}

// RemnantDue reports whether s is a remnant the reconciler removes at now: incomplete,
// or without its workspace (degraded), and created at least grace ago. A session
// without a creation time counts as old.
func RemnantDue(s *Session, now time.Time, grace time.Duration) bool {
	if s == nil || (!s.Incomplete && s.Status != StatusDegraded) {
		return false
	}
	return s.CreatedAt.IsZero() || !now.Before(s.CreatedAt.Add(grace))
}

// SessionsOf keeps the sessions of one template ID and participant (what a
// SessionAdopter's SessionsOf returns from a wider listing).
func SessionsOf(all []*Session, templateID, participant string) []*Session {
	var out []*Session
	for _, s := range all {
		if s.TemplateID == templateID && s.Participant == participant {
			out = append(out, s)
		}
	}
	return out
}
