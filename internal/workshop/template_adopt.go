package workshop

import (
	"context"
	"sync"
	"time"
)

// Template copies orphaned by an interrupted apply. Each template resource owns its
// copy (the owner is part of the ID), so a Terraform killed after a template's create
// but before it saved the state would leave that copy, and the sessions built from it,
// out of every state: the re-apply would create a copy with a new owner, and its
// sessions could not adopt the complete ones. The plugin notices that its Terraform
// died and marks the copies it created as orphaned; a create of the same template
// (same name and digest) adopts an orphaned copy, and through its ID the sessions.
// A state that reads the copy claims it back (the mark goes).

const (
	// LabelOrphaned marks a template copy whose creating Terraform died (Kubernetes).
	LabelOrphaned = LabelPrefix + "orphaned"
	// LabelTemplateDigest carries a template's digest (hex, without "sha256:").
	LabelTemplateDigest = LabelPrefix + "template-digest"
	// RoleOrphanMark is the role of the Docker volume that marks a copy as orphaned
	// (Docker labels cannot change).
	RoleOrphanMark = "orphan-mark"
)

// TemplateAdopter is implemented by backends whose orphaned template copies a create
// can adopt.
type TemplateAdopter interface {
	// MarkTemplateOrphaned marks the copy id as orphaned (idempotent).
	MarkTemplateOrphaned(ctx context.Context, id string) error
	// OrphanedTemplate returns the ID of an orphaned copy of the template name with
	// digest, or "" when there is none.
	OrphanedTemplate(ctx context.Context, name, digest string) (string, error)
	// ClaimTemplate removes the orphan mark of a copy (idempotent).
	ClaimTemplate(ctx context.Context, id string) error
}

var (
	createdMu sync.Mutex
	created   []func(context.Context) error
)

// RecordTemplateCreated remembers a copy this process created, to mark it orphaned if
// Terraform dies (MarkCreatedOrphaned).
func RecordTemplateCreated(a TemplateAdopter, id string) {
	createdMu.Lock()
	defer createdMu.Unlock()
	created = append(created, func(ctx context.Context) error { return a.MarkTemplateOrphaned(ctx, id) })
}

// MarkCreatedOrphaned marks every copy this process created as orphaned; the plugin
// calls it when its Terraform is gone. It reports how many it marked.
func MarkCreatedOrphaned(timeout time.Duration) int {
	createdMu.Lock()
	fns := created
	created = nil
	createdMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n := 0
	for _, f := range fns {
		if f(ctx) == nil {
			n++
		}
	}
	return n
}
