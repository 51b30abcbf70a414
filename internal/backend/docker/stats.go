package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.StatsReader = (*Backend)(nil)

// statsParallelism bounds the one-shot stats requests of one session in flight.
const statsParallelism = 4

// SessionStats sums a one-shot Docker stats sample of every running container of the
// session (the workspace and its services): CPU time, memory working set (usage minus
// the inactive page cache, as `docker stats` shows it) and network bytes. A session
// with no container is an error wrapping workshop.ErrNotFound.
func (b *Backend) SessionStats(ctx context.Context, id string) (*workshop.SessionStats, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	ctrs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: labelFilters(
		workshop.LabelManagedBy+"="+workshop.ManagedByValue,
		workshop.LabelSession+"="+id,
	)})
	if err != nil {
		return nil, fmt.Errorf("stats of session %s: list containers: %w", id, err)
	}
	if len(ctrs) == 0 {
		return nil, fmt.Errorf("stats of session %s: no container on Docker at %s: %w", id, b.cfg.Host, workshop.ErrNotFound)
	}
	out := &workshop.SessionStats{At: time.Now().UTC(), HasCPUSeconds: true, HasNetwork: true}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(statsParallelism)
	for _, c := range ctrs {
		if c.State != container.StateRunning {
			continue // a stopped container uses nothing and reports zeros
		}
		g.Go(func() error {
			s, err := b.containerStats(gctx, c.ID)
			if isNotFound(err) {
				return nil // removed meanwhile
			}
			if err != nil {
				return fmt.Errorf("stats of container %s: %w", containerName(c), err)
			}
			mu.Lock()
			defer mu.Unlock()
			addStats(out, s)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("stats of session %s: %w", id, err)
	}
	return out, nil
}

// containerStats reads one sample without waiting for a second one (one-shot).
func (b *Backend) containerStats(ctx context.Context, id string) (*container.StatsResponse, error) {
	r, err := b.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		return nil, fmt.Errorf("decode stats: %w", err)
	}
	return &s, nil
}

// addStats adds one container's sample to a session's figures.
func addStats(out *workshop.SessionStats, s *container.StatsResponse) {
	out.Containers++
	out.CPUSeconds += float64(s.CPUStats.CPUUsage.TotalUsage) / 1e9
	out.MemoryBytes += int64(workingSet(s.MemoryStats))
	// A limit of the host's total memory means "no limit": it is not added up.
	if l := s.MemoryStats.Limit; l > 0 && l < 1<<62 {
		out.MemoryLimitBytes += int64(l)
	}
	for _, n := range s.Networks {
		out.NetworkRxBytes += int64(n.RxBytes)
		out.NetworkTxBytes += int64(n.TxBytes)
	}
}

// workingSet is memory usage minus the inactive file cache (cgroup v2 "inactive_file",
// cgroup v1 "total_inactive_file"), the figure `docker stats` prints.
func workingSet(m container.MemoryStats) uint64 {
	cache, ok := m.Stats["inactive_file"]
	if !ok {
		cache = m.Stats["total_inactive_file"]
	}
	if cache > m.Usage {
		return 0
	}
	return m.Usage - cache
}
