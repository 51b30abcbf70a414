package workshop

import "context"

// StatusOverQuota: the session's disk use (writable layers and volumes) exceeds its
// storage budget on a backend that does not cap it. Set by the reconciler's storage
// metering; the session may also have been stopped (--stop-over-quota).
const StatusOverQuota = "over_quota"

// StorageUsage is a session's disk use as its backend measures it.
type StorageUsage struct {
	// Bytes is the writable layers of the session's containers plus its volumes.
	Bytes int64
	// BudgetBytes is the session's storage resource (0 when unknown).
	BudgetBytes int64
	// Enforced tells whether the backend caps the workspace's writable layer itself
	// (volumes are never capped on Docker).
	Enforced bool
	// Marked tells whether the session carries the over_quota mark now.
	Marked bool
}

// Over reports whether the usage exceeds a known budget.
func (u *StorageUsage) Over() bool { return u != nil && u.BudgetBytes > 0 && u.Bytes > u.BudgetBytes }

// StorageMeter is implemented by a backend that can measure its sessions' disk use and
// act on it (the Docker backend: overlay2 on ext4 cannot cap a container's size).
type StorageMeter interface {
	// StorageUsage measures every session at once (one daemon-wide call), by session ID.
	StorageUsage(ctx context.Context) (map[string]*StorageUsage, error)
	// MarkOverQuota sets (over = true) or clears the session's over_quota mark, which
	// GetSession and ListSessions then report as its status.
	MarkOverQuota(ctx context.Context, id string, u *StorageUsage, over bool) error
	// StopSession stops the session's containers; its data stays until it is deleted.
	StopSession(ctx context.Context, id string) error
}
