package docker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"golang.org/x/sync/singleflight"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Per-session networks get an explicit subnet from the backend's pool, so that hundreds
// of sessions never exhaust Docker's default address pools (they run out at about 30
// networks). The allocator lives in the process: it learns the subnets in use from one
// listing of every network, reserves subnets for creates in flight, and learns about
// networks created by other processes when Docker refuses an overlapping subnet.

// maxSubnetAttempts bounds how many subnets one create tries before giving up. After
// each overlap the allocator lists the networks again, so a few attempts are enough
// even while another process creates networks in the same pool.
const maxSubnetAttempts = 8

// subnetAllocator hands out subnets of one pool. Safe for concurrent use; its lock is
// held only for map updates, never across a Docker call.
type subnetAllocator struct {
	pool netip.Prefix
	bits int

	loaded atomic.Bool        // the one-off listing of networks succeeded
	load1  singleflight.Group // concurrent first creates share that listing

	mu       sync.Mutex
	used     map[netip.Prefix]bool   // taken by networks this process did not reserve
	reserved map[string]netip.Prefix // session ID -> subnet
	taken    map[netip.Prefix]string // subnet -> session ID
	cursor   uint64                  // next candidate index, so creates spread out
}

// newSubnetAllocator starts at a random subnet of the pool, so that two processes
// sharing a pool (two classes applied at once on one host) rarely pick the same ones.
func newSubnetAllocator(pool netip.Prefix, bits int) *subnetAllocator {
	a := &subnetAllocator{
		pool:     pool,
		bits:     bits,
		used:     map[netip.Prefix]bool{},
		reserved: map[string]netip.Prefix{},
		taken:    map[netip.Prefix]string{},
	}
	a.cursor = rand.Uint64N(a.size())
	return a
}

// size is the number of subnets in the pool.
func (a *subnetAllocator) size() uint64 { return 1 << uint(a.bits-a.pool.Bits()) }

// nthSubnet returns the i-th subnet of the pool (i < size).
func nthSubnet(pool netip.Prefix, bits int, i uint64) netip.Prefix {
	base := pool.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	n += uint32(i) << uint(32-bits)
	addr := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return netip.PrefixFrom(addr, bits)
}

// gatewayOf is the first host address of a subnet.
func gatewayOf(subnet netip.Prefix) netip.Addr { return subnet.Addr().Next() }

// markUsed records subnets (of any size) that existing networks occupy; every pool
// subnet that overlaps one of them becomes unavailable.
func (a *subnetAllocator) markUsed(existing []netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range existing {
		a.markUsedLocked(p)
	}
}

func (a *subnetAllocator) markUsedLocked(p netip.Prefix) {
	p = p.Masked()
	if !p.Addr().Is4() || !p.Overlaps(a.pool) {
		return
	}
	if p.Bits() >= a.bits {
		// Inside one pool subnet.
		a.used[netip.PrefixFrom(p.Addr(), a.bits).Masked()] = true
		return
	}
	// Larger than a pool subnet: mark every pool subnet it covers.
	first, last := p, p
	if p.Bits() < a.pool.Bits() {
		first, last = a.pool, a.pool
	}
	start := subnetIndex(a.pool, a.bits, first.Addr())
	count := uint64(1) << uint(a.bits-last.Bits())
	for i := start; i < start+count && i < a.size(); i++ {
		a.used[nthSubnet(a.pool, a.bits, i)] = true
	}
}

// subnetIndex is the index of the pool subnet holding addr.
func subnetIndex(pool netip.Prefix, bits int, addr netip.Addr) uint64 {
	b, p := addr.As4(), pool.Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	base := uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
	return uint64((n - base) >> uint(32-bits))
}

// reserve picks a free subnet for session id and records it.
func (a *subnetAllocator) reserve(id string) (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.size()
	for k := uint64(0); k < n; k++ {
		i := (a.cursor + k) % n
		s := nthSubnet(a.pool, a.bits, i)
		if a.used[s] || a.taken[s] != "" {
			continue
		}
		a.cursor = i + 1
		if old, ok := a.reserved[id]; ok {
			delete(a.taken, old)
		}
		a.reserved[id] = s
		a.taken[s] = id
		return s, nil
	}
	return netip.Prefix{}, fmt.Errorf("subnet pool %s has no free /%d left (%d subnets, all in use); give a larger pool", a.pool, a.bits, n)
}

// conflict records that Docker refused id's subnet because another network uses it.
func (a *subnetAllocator) conflict(id string, s netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.used[s] = true
	if a.reserved[id] == s {
		delete(a.reserved, id)
		delete(a.taken, s)
	}
}

// release frees id's subnet.
func (a *subnetAllocator) release(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.reserved[id]; ok {
		delete(a.reserved, id)
		delete(a.taken, s)
	}
}

// forget frees a subnet of a network this process did not create (a delete of a session
// created by another process), so it can be reused.
func (a *subnetAllocator) forget(s netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.taken[s] == "" {
		delete(a.used, s)
	}
}

// load lists every network once to learn the subnets in use. Concurrent callers share
// one listing; a failed listing is retried by the next create.
func (a *subnetAllocator) load(ctx context.Context, cli client.APIClient) error {
	if a.loaded.Load() {
		return nil
	}
	ch := a.load1.DoChan("load", func() (any, error) {
		if a.loaded.Load() {
			return nil, nil
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedCallTimeout)
		defer cancel()
		if err := a.refresh(sctx, cli); err != nil {
			return nil, err
		}
		a.loaded.Store(true)
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refresh lists every network and marks their subnets used (networks another process
// created since the last listing).
func (a *subnetAllocator) refresh(ctx context.Context, cli client.APIClient) error {
	nets, err := cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return fmt.Errorf("list networks to learn the subnets in use: %w", err)
	}
	a.markUsed(networkSubnets(nets))
	return nil
}

// networkSubnets returns the IPv4 subnets of networks.
func networkSubnets(nets []network.Summary) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
				out = append(out, p)
			}
		}
	}
	return out
}

// isOverlapError reports Docker's refusal of a subnet another network uses.
func isOverlapError(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "Pool overlaps") || strings.Contains(msg, "overlaps with other one") ||
		strings.Contains(msg, "overlaps with")
}

// createNetwork creates the session network with a subnet from the pool, trying the
// next subnet when another network (of another process) already uses one.
func (b *Backend) createNetwork(ctx context.Context, spec *workshop.SessionSpec) (string, error) {
	name := b.networkName(spec.ID)
	if err := b.subnets.load(ctx, b.cli); err != nil {
		return "", err
	}
	labels := workshop.WithLabels(objectLabels(spec), workshop.LabelRole, workshop.RoleNetwork,
		workshop.LabelBackend, string(workshop.InfraDocker))
	var lastErr error
	for attempt := 0; attempt < maxSubnetAttempts; attempt++ {
		subnet, err := b.subnets.reserve(spec.ID)
		if err != nil {
			return "", err
		}
		_, err = b.cli.NetworkCreate(ctx, name, network.CreateOptions{
			Driver: "bridge",
			IPAM: &network.IPAM{
				Driver: "default",
				Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: gatewayOf(subnet).String()}},
			},
			Labels: labels,
			// The bridge's name carries the egress mode the host's ruleset matches;
			// egress "none" has no route out at all.
			Options:  map[string]string{"com.docker.network.bridge.name": bridgeName(spec.ID, spec.Template.EffectiveEgress())},
			Internal: spec.Template.EffectiveEgress() == workshop.EgressNone,
		})
		if err == nil {
			return name, nil
		}
		if !isOverlapError(err) {
			b.subnets.release(spec.ID)
			return "", fmt.Errorf("create network %s (subnet %s): %w", name, subnet, err)
		}
		b.subnets.conflict(spec.ID, subnet)
		lastErr = err
		if err := b.subnets.refresh(ctx, b.cli); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("create network %s: %d subnets of %s in a row overlapped other networks (another process is creating networks in this pool?): %w",
		name, maxSubnetAttempts, b.subnets.pool, lastErr)
}

// networkName is <prefix>-<session id>.
func (b *Backend) networkName(id string) string { return b.cfg.NetworkPrefix + "-" + id }
