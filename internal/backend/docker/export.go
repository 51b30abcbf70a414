package docker

import (
	"context"
	"net/netip"

	"github.com/docker/docker/client"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// SubnetAllocator hands out per-session subnets of a pool, learning the subnets in use
// from the engine's networks (see subnetAllocator). Exported for the Swarm backend,
// whose overlay networks are carved the same way.
type SubnetAllocator struct{ a *subnetAllocator }

// NewSubnetAllocator allocates /bits subnets of pool.
func NewSubnetAllocator(pool netip.Prefix, bits int) *SubnetAllocator {
	return &SubnetAllocator{a: newSubnetAllocator(pool, bits)}
}

// Pool is the allocator's pool.
func (s *SubnetAllocator) Pool() netip.Prefix { return s.a.pool }

// Load lists the engine's networks once (concurrent callers share the listing).
func (s *SubnetAllocator) Load(ctx context.Context, cli client.APIClient) error {
	return s.a.load(ctx, cli)
}

// Refresh lists the networks again (after an overlap).
func (s *SubnetAllocator) Refresh(ctx context.Context, cli client.APIClient) error {
	return s.a.refresh(ctx, cli)
}

// Reserve picks a free subnet for session id.
func (s *SubnetAllocator) Reserve(id string) (netip.Prefix, error) { return s.a.reserve(id) }

// Conflict records that the engine refused id's subnet p as overlapping.
func (s *SubnetAllocator) Conflict(id string, p netip.Prefix) { s.a.conflict(id, p) }

// Release frees id's subnet.
func (s *SubnetAllocator) Release(id string) { s.a.release(id) }

// Forget frees a subnet of a network another process created.
func (s *SubnetAllocator) Forget(p netip.Prefix) { s.a.forget(p) }

// MaxSubnetAttempts bounds the subnets one network create tries.
const MaxSubnetAttempts = maxSubnetAttempts

// IsOverlapError reports the engine's refusal of a subnet another network uses.
func IsOverlapError(err error) bool { return isOverlapError(err) }

// GatewayOf is the first host address of a subnet.
func GatewayOf(subnet netip.Prefix) netip.Addr { return gatewayOf(subnet) }

// ParsePool parses a subnet pool and checks the per-session prefix length against it.
func ParsePool(cidr string, bits int) (netip.Prefix, error) { return parsePool(cidr, bits) }

// NewEngineClient builds an Engine API client for host like the backend's own (more
// idle connections, TLS from PEM materials, version negotiation); it does not dial.
func NewEngineClient(host, ca, cert, key string) (*client.Client, error) {
	return newClient(settings{Config: Config{Host: host, CAMaterial: ca, CertMaterial: cert, KeyMaterial: key}})
}

// IsNotFound reports a 404 from the engine.
func IsNotFound(err error) bool { return isNotFound(err) }

// IsConflict reports a 409 from the engine.
func IsConflict(err error) bool { return isConflict(err) }

// WorkingDir is the template's working directory or DefaultWorkingDir.
func WorkingDir(t *workshop.Template) (string, error) { return workingDir(t) }

// EnvList renders an environment map as sorted KEY=VALUE entries.
func EnvList(env map[string]string) []string { return envList(env) }

// WithExpiry returns spec with ExpiresAt set (from Duration, default 4h) when it is zero.
func WithExpiry(spec *workshop.SessionSpec) *workshop.SessionSpec { return withExpiry(spec) }
