package workshop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// Warm pool (DESIGN.md, "Warm pool"): a template's warm_pool = N keeps N sessions of it
// started and unassigned; a new session claims one instead of starting cold.
const (
	// LabelPool marks a session namespace that belongs to a template's warm pool:
	// PoolFree (started, unassigned), PoolClaimed (handed to a participant), PoolCold
	// (created cold because the pool was empty), PoolDraining (being removed).
	LabelPool = LabelPrefix + "pool"
	// LabelPoolKey is PoolKey(template ID): the full ID does not always fit a label.
	LabelPoolKey = LabelPrefix + "pool-key"

	PoolFree     = "free"
	PoolClaimed  = "claimed"
	PoolCold     = "cold"
	PoolDraining = "draining"

	// MaxWarmPool bounds warm_pool.
	MaxWarmPool = 200
)

// PoolKey is the label value naming a template ID's pool (24 hex characters of its
// SHA-256).
func PoolKey(templateID string) string {
	sum := sha256.Sum256([]byte(templateID))
	return hex.EncodeToString(sum[:12])
}

// PoolStatus is one template's pool as the backend sees it.
type PoolStatus struct {
	TemplateID   string `json:"template_id"`
	TemplateName string `json:"template_name"`
	// Size is the template's warm_pool (0 when the template is no longer stored).
	Size int `json:"size"`
	// Free entries are ready to be claimed; Filling ones are still starting.
	Free    int `json:"free"`
	Filling int `json:"filling"`
	// Claimed: sessions that came from the pool; Cold: sessions of a pooled template
	// created cold because no entry was free. Both count live sessions.
	Claimed int `json:"claimed"`
	Cold    int `json:"cold"`
}

// WarmPooler is a Backend that keeps warm pools (Kubernetes).
type WarmPooler interface {
	// ResizePool makes t's pool hold n free entries: it starts the missing ones (at most
	// parallel at a time, each waited until ready) and removes the surplus free ones (and
	// every free entry when n is 0). Entries being claimed are never removed.
	ResizePool(ctx context.Context, t *Template, n, parallel int) (PoolStatus, error)
	// ClaimPooled hands a free entry of spec.Template's pool to spec's participant, with
	// spec's resources, labels and expiry and fresh credentials, and returns the session
	// under the entry's ID. It returns (nil, nil) when no entry is free; after an error
	// the entry is removed and the caller creates the session cold.
	ClaimPooled(ctx context.Context, spec *SessionSpec) (*Session, error)
	// Pools reports every template's pool (stored templates with warm_pool > 0, and
	// templates that still have entries); given template IDs, only theirs.
	Pools(ctx context.Context, templateIDs ...string) ([]PoolStatus, error)
	// PooledTemplates returns the stored templates with warm_pool > 0 (the reconciler
	// refills them).
	PooledTemplates(ctx context.Context) ([]*Template, error)
	// ReconcilerRefills reports whether a leading reconciler refills the pools (its
	// lease is fresh and it refilled them recently): the provider then leaves growing
	// them to it.
	ReconcilerRefills(ctx context.Context) bool
	// MarkPoolsRefilled records that this (leading) reconciler refilled every pool.
	MarkPoolsRefilled(ctx context.Context) error
}
