package docker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// A plan refreshes every session of a class at once: read one by one, 200 sessions
// cost 600+ Docker API calls. Reads arriving in a burst share instead one
// label-filtered listing of containers, networks and volumes (a snapshot), and each
// inspects only its workspace (and its services): what the lists lack (live limits,
// exact creation time, health, port map).
//
// Rules:
//   - a lone read (import, a single refresh) reads the session by itself as before:
//     a snapshot is listed only when a second read starts within burstWindow;
//   - a snapshot serves the reads that start within snapshotTTL of its listing's start
//     (single-flight: readers arriving while it lists wait for it), so that it never
//     hides an outside change older than that;
//   - never stale after this process's own changes: every mutation of a session
//     bumps a sequence number when it starts and when it ends; a snapshot is used for
//     a session only when no mutation of the session is under way and its last one
//     ended before the listing started;
//   - anything else than a session whose workspace and network are listed (missing,
//     degraded, or the inspect says gone) is read by itself, which decides.
const (
	snapshotTTL = 2 * time.Second
	burstWindow = time.Second
)

// readCache holds the current snapshot and the sessions' mutation sequence. The zero
// value is ready.
type readCache struct {
	mu       sync.Mutex
	seq      uint64
	busy     map[string]int    // mutations under way, by session
	changed  map[string]uint64 // seq when the session's last mutation ended
	snap     *snapshot
	lastRead time.Time
	// Test knobs: ttl replaces snapshotTTL when set; untracked turns the mutation
	// tracking off (the stale-read control).
	ttl       time.Duration
	untracked bool
	// hits and lists count snapshot reads and listings (tests, logs).
	hits, lists int
}

// snapshot is one listing of every session object of the daemon, by session.
type snapshot struct {
	seq     uint64    // the mutation sequence when the listing started
	started time.Time // when the listing started
	done    chan struct{}
	err     error
	byID    map[string]*listedParts
}

// mutation marks a change of session id under way; the caller runs the returned end
// when the change is over (successful or not).
func (c *readCache) mutation(id string) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.untracked {
		return func() {}
	}
	if c.busy == nil {
		c.busy, c.changed = map[string]int{}, map[string]uint64{}
	}
	c.seq++
	c.busy[id]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.seq++
		if c.busy[id]--; c.busy[id] <= 0 {
			delete(c.busy, id)
		}
		c.changed[id] = c.seq
	}
}

// acquire returns the snapshot a read of session id may use, listing one when a burst
// of reads needs it; nil when the read must go by itself.
func (c *readCache) acquire(ctx context.Context, b *Backend, id string) *snapshot {
	s := c.shared(ctx, b)
	if s == nil || !c.valid(id, s) {
		return nil
	}
	c.mu.Lock()
	c.hits++
	c.mu.Unlock()
	return s
}

// shared returns a fresh snapshot (listing one when a burst of reads needs it), or nil
// for a lone read or a failed listing.
func (c *readCache) shared(ctx context.Context, b *Backend) *snapshot {
	now := time.Now()
	c.mu.Lock()
	s := c.snap
	ttl := snapshotTTL
	if c.ttl > 0 {
		ttl = c.ttl
	}
	if s == nil || now.Sub(s.started) > ttl {
		if c.lastRead.IsZero() || now.Sub(c.lastRead) > burstWindow {
			c.lastRead = now
			c.mu.Unlock()
			return nil // a lone read so far
		}
		s = &snapshot{seq: c.seq, started: now, done: make(chan struct{})}
		c.snap = s
		c.lists++
		go func() {
			// Detached: the readers sharing it may each give up on their own context.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			s.byID, s.err = b.listParts(lctx)
			close(s.done)
		}()
	}
	c.lastRead = now
	c.mu.Unlock()
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil
	}
	if s.err != nil {
		return nil
	}
	return s
}

// valid reports whether s may answer for session id: no change of it by this process
// is under way or ended after s's listing started.
func (c *readCache) valid(id string, s *snapshot) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.busy[id] == 0 && c.changed[id] <= s.seq
}

// listParts lists every session container (all states), network and volume of the
// daemon (restricted by extra label filters, "key=value"), by session: three calls.
func (b *Backend) listParts(ctx context.Context, extra ...string) (map[string]*listedParts, error) {
	f := labelFilters(append([]string{workshop.LabelManagedBy + "=" + workshop.ManagedByValue, workshop.LabelSession}, extra...)...)
	var ctrs []container.Summary
	var nets []network.Summary
	var vols []*volume.Volume
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if ctrs, err = b.cli.ContainerList(gctx, container.ListOptions{All: true, Filters: f}); err != nil {
			return fmt.Errorf("list session containers: %w", err)
		}
		return nil
	})
	g.Go(func() (err error) {
		if nets, err = b.cli.NetworkList(gctx, network.ListOptions{Filters: f}); err != nil {
			return fmt.Errorf("list session networks: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		list, err := b.cli.VolumeList(gctx, volume.ListOptions{Filters: f})
		if err != nil {
			return fmt.Errorf("list session volumes: %w", err)
		}
		vols = list.Volumes
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return groupParts(ctrs, nets, vols), nil
}

// groupParts groups listed objects by their session label.
func groupParts(ctrs []container.Summary, nets []network.Summary, vols []*volume.Volume) map[string]*listedParts {
	parts := map[string]*listedParts{}
	of := func(labels map[string]string) *listedParts {
		id := labels[workshop.LabelSession]
		if id == "" || !managedBy(labels) {
			return nil
		}
		if parts[id] == nil {
			parts[id] = &listedParts{}
		}
		return parts[id]
	}
	for i := range ctrs {
		c := &ctrs[i]
		if p := of(c.Labels); p != nil {
			if c.Labels[workshop.LabelRole] == workshop.RoleWorkspace && containerName(*c) == workshop.SessionObjectName(c.Labels[workshop.LabelSession]) {
				p.workspace = c
			} else {
				p.other = append(p.other, *c)
			}
		}
	}
	for _, n := range nets {
		if p := of(n.Labels); p != nil {
			p.nets = append(p.nets, n)
		}
	}
	for _, v := range vols {
		if p := of(v.Labels); p != nil {
			p.vols = append(p.vols, v)
		}
	}
	return parts
}

// readFromSnapshot reads session id from s: the workspace and the services are
// inspected, the network and the volumes come from the listing. ok is false when the
// session must be read by itself (not listed whole, or changed since).
func (b *Backend) readFromSnapshot(ctx context.Context, id string, s *snapshot) (sess *workshop.Session, ok bool, err error) {
	lp := s.byID[id]
	if lp == nil || lp.workspace == nil {
		return nil, false, nil
	}
	netName := b.networkName(id)
	var p sessionParts
	for i := range lp.nets {
		if lp.nets[i].Name == netName {
			n := lp.nets[i]
			n.Containers = attached(netName, lp)
			p.net = &n
		}
	}
	if p.net == nil {
		return nil, false, nil
	}
	ins, err := b.cli.ContainerInspect(ctx, lp.workspace.ID)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("inspect container %s: %w", workshop.SessionObjectName(id), err)
	}
	p.ctr, p.vols = &ins, lp.vols
	if p.services, err = b.inspectServices(ctx, id, otherContainers(id, p.net.Containers)); err != nil {
		return nil, false, err
	}
	return b.sessionFromParts(id, p, time.Now()), true, nil
}

// attached are the listed containers with an endpoint on the network (what a network
// inspect reports: running containers only).
func attached(netName string, lp *listedParts) map[string]network.EndpointResource {
	out := map[string]network.EndpointResource{}
	add := func(c *container.Summary) {
		if c.NetworkSettings == nil {
			return
		}
		if ep := c.NetworkSettings.Networks[netName]; ep != nil && ep.EndpointID != "" {
			out[c.ID] = network.EndpointResource{Name: containerName(*c), EndpointID: ep.EndpointID}
		}
	}
	add(lp.workspace)
	for i := range lp.other {
		add(&lp.other[i])
	}
	return out
}

// sessionsOfSnapshot is SessionsOf answered from s: the objects labelled with the
// participant, as the label-filtered listing would return them, without the sessions
// this process changed since the listing (its own creates it skips anyway; a session
// it removed is gone).
func (b *Backend) sessionsOfSnapshot(s *snapshot, templateID, participant string) []*workshop.Session {
	parts := map[string]*listedParts{}
	match := func(l map[string]string) bool { return l[workshop.LabelParticipant] == participant }
	for id, p := range s.byID {
		if !b.reads.valid(id, s) {
			continue
		}
		q := &listedParts{}
		if p.workspace != nil && match(p.workspace.Labels) {
			q.workspace = p.workspace
		}
		for _, c := range p.other {
			if match(c.Labels) {
				q.other = append(q.other, c)
			}
		}
		for _, n := range p.nets {
			if match(n.Labels) {
				q.nets = append(q.nets, n)
			}
		}
		for _, v := range p.vols {
			if match(v.Labels) {
				q.vols = append(q.vols, v)
			}
		}
		if q.workspace != nil || len(q.other) > 0 || len(q.nets) > 0 || len(q.vols) > 0 {
			parts[id] = q
		}
	}
	return workshop.SessionsOf(b.groupSessions(parts, time.Now()), templateID, participant)
}
