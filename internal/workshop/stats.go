package workshop

import (
	"context"
	"errors"
	"time"
)

// Optional backend capabilities. The Backend interface stays small; callers (the
// reconciler, data sources) test for these with a type assertion:
//
//	if sr, ok := b.(workshop.StatsReader); ok { ... }

// ErrStatsUnavailable is returned (wrapped) by a StatsReader when the infrastructure
// has no usage figures to give (for example a Kubernetes cluster without
// metrics-server). Callers treat it as "no figures", not as a failure.
var ErrStatsUnavailable = errors.New("usage statistics unavailable")

// StatsReader reads a session's live resource usage from the backend's own
// statistics (Docker stats, the Kubernetes metrics API).
type StatsReader interface {
	// SessionStats returns the usage summed over the session's containers or pods.
	// A missing session is an error wrapping ErrNotFound; a backend without figures
	// returns an error wrapping ErrStatsUnavailable.
	SessionStats(ctx context.Context, id string) (*SessionStats, error)
}

// SessionStats is one sample of a session's resource usage. Fields a backend cannot
// measure carry their Has* flag false.
type SessionStats struct {
	// At is when the sample was taken.
	At time.Time
	// CPUSeconds is the CPU time used since the containers started (a counter).
	CPUSeconds    float64
	HasCPUSeconds bool
	// CPUMilli is the current CPU usage in millicores (an instant rate).
	CPUMilli    float64
	HasCPUMilli bool
	// MemoryBytes is the working set (usage without the reclaimable page cache).
	MemoryBytes int64
	// MemoryLimitBytes is the memory limit the figures are measured against (0 unknown).
	MemoryLimitBytes int64
	// NetworkRxBytes and NetworkTxBytes are bytes received and sent since start.
	NetworkRxBytes int64
	NetworkTxBytes int64
	HasNetwork     bool
	// Containers is how many containers (or pods) the figures add up.
	Containers int
}

// SessionReaper is implemented by a backend that can tell whether its delete was the
// one that removed a session, so that two reconcilers racing on one host each count a
// session they reap once between them.
type SessionReaper interface {
	// ReapSession deletes the session like DeleteSession (a missing session is not an
	// error) and reports whether this call is the one that claimed it.
	ReapSession(ctx context.Context, id string) (claimed bool, err error)
}
