package docker

import (
	"fmt"

	"github.com/docker/docker/client"
	"golang.org/x/sync/singleflight"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var (
	_ workshop.Backend = (*Backend)(nil)
	_ workshop.Reacher = (*Backend)(nil)
)

// Backend is the Docker implementation of workshop.Backend. Every method is safe for
// concurrent use.
//
// A session <id> owns, all labelled nalabo.io/session=<id> (and the other session
// labels):
//   - the network <NetworkPrefix>-<id>: a bridge with a subnet from SubnetPool, Linux
//     bridge nlb-<id> (egress restricted), nln-<id> (none: an internal network) or
//     nlo-<id> (open), which the host's egress ruleset matches (egress.go);
//   - once an update changed its expiry, the lease volume
//     nalabo-lease-<id>-<unix expiry> (role=lease): the expiry (lease.go); until then
//     the expires-at label is;
//   - the volume nalabo-session-<id>-workspace (role=volume) at the working directory;
//   - the workspace container nalabo-session-<id> (role=workspace), alias "workspace"
//     on the network, hostname nalabo-<id>: CPU and memory limits (no swap), pids limit,
//     every capability dropped but DefaultCapabilities, no-new-privileges, docker-init
//     as PID 1 when the daemon has it, restart unless-stopped, logs rotated (2 x 10m),
//     ports published on BindAddress with host ports Docker picks.
//
// Storage: the writable layer is capped (StorageOpt size) only where the storage driver
// can (btrfs, zfs, devicemapper, overlay2 on xfs mounted with pquota; the first create
// finds out). On overlay2 over ext4 nothing caps it, and Session.StorageEnforced is
// false; volumes are never capped.
//
// A template (its images made present) is stored as the volume
// nalabo-template-<name>-<digest12>, its JSON in the label nalabo.io/template-spec.
type Backend struct {
	cfg     settings
	cli     *client.Client
	subnets *subnetAllocator
	facts   daemonFactsCache
	egress  egressGuard        // the host's egress ruleset, installed once per process
	pulls   singleflight.Group // image pulls in flight, by reference
	builds  singleflight.Group // image builds in flight, by tag
	// sessionLocks serialises the changes that share a session's budget again
	// (applies, their deletes, session updates) per session, within this process.
	sessionLocks workshop.SessionLocks
	// reads shares one listing among the session reads of a burst (a plan's refresh)
	// and tracks this process's session changes so that it never answers stale.
	reads readCache
	// createSlots gates the creating calls of session creates (session_create.go).
	createSlots chan struct{}
}

// lockSession takes the session's lock; the caller runs the returned unlock.
func (b *Backend) lockSession(id string) func() {
	return b.sessionLocks.Lock(id)
}

// New checks the configuration and builds a client; it does not dial the daemon.
func New(cfg Config) (*Backend, error) {
	s, err := validate(cfg)
	if err != nil {
		return nil, fmt.Errorf("docker configuration: %w", err)
	}
	cli, err := newClient(s)
	if err != nil {
		return nil, err
	}
	return &Backend{
		cfg:         s,
		cli:         cli,
		subnets:     newSubnetAllocator(s.pool, s.SubnetPrefixLength),
		createSlots: make(chan struct{}, maxCreating),
	}, nil
}

// Type is docker.
func (b *Backend) Type() workshop.InfrastructureType { return workshop.InfraDocker }

// Host is the daemon address the backend talks to.
func (b *Backend) Host() string { return b.cfg.Host }

// Close releases idle connections to the daemon.
func (b *Backend) Close() error { return b.cli.Close() }
