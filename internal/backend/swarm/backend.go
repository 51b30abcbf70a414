// Package swarm is the Docker Swarm backend: each session is a Swarm service on its own
// overlay network, scheduled by Swarm across the cluster's nodes (no scheduler of ours).
//
// A session <id> owns, all labelled nalabo.io/session=<id> (and the other session labels,
// nalabo.io/backend=swarm):
//   - the overlay network <NetworkPrefix>-<id>: attachable, a subnet from SubnetPool
//     (the Docker backend's allocator), IPsec-encrypted when Encrypted;
//   - the service nalabo-session-<id> (role=workspace): one replica, CPU and memory
//     limits and reservations, a pids limit, every capability dropped but
//     workshop.AllowedCapabilities, an init process, restart on any exit, the template's
//     placement constraints, alias "workspace" on the network. Its labels hold the
//     expiry (service labels can change, unlike a container's: no lease volume) and
//     nalabo.io/creating until the task runs;
//   - the volume nalabo-session-<id>-workspace at the working directory, created by the
//     engine of the node the task runs on.
//
// Templates are Swarm configs nalabo-template-<name>-<key> (cluster-wide, unlike a
// volume), the sealed JSON as data.
package swarm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sync"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.Backend = (*Backend)(nil)

// Config is the Swarm backend's configuration (see config.Swarm).
type Config = config.Swarm

// Swarm-specific labels.
const (
	// LabelCreating marks a session service whose create has not finished.
	LabelCreating = workshop.LabelPrefix + "creating"
	// LabelCPU and LabelMemory are the limits a session runs with (ListSessions).
	LabelCPU    = workshop.LabelPrefix + "cpu"
	LabelMemory = workshop.LabelPrefix + "memory"
)

// Backend is the Swarm implementation of workshop.Backend. Every method is safe for
// concurrent use.
type Backend struct {
	cfg     Config
	cli     *client.Client
	subnets *docker.SubnetAllocator

	selfMu   sync.Mutex
	selfNode string // the manager's node ID, once known

	engMu   sync.Mutex
	engines map[string]*engine // by engine address
}

// engine is a node's Engine API: exec runs through the Docker backend's code
// (markers, bounded output, kill on timeout), volumes and containers through cli.
type engine struct {
	host string
	cli  *client.Client
	exec *docker.Backend
}

// errNodeGone: the node left the swarm (and took its containers and volumes along).
var errNodeGone = errors.New("the node is no longer part of the swarm")

var networkNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,200}$`)

// New checks the configuration and builds a client; it does not dial.
func New(cfg Config) (*Backend, error) {
	if cfg.NetworkPrefix == "" {
		cfg.NetworkPrefix = config.DefaultSwarmNetworkPrefix
	}
	if cfg.SubnetPool == "" {
		cfg.SubnetPool = config.DefaultSwarmSubnetPool
	}
	if cfg.SubnetPrefixLength == 0 {
		cfg.SubnetPrefixLength = config.DefaultSwarmSubnetPrefixLength
	}
	if cfg.PidsLimit == 0 {
		cfg.PidsLimit = config.DefaultDockerPidsLimit
	}
	var errs []error
	if cfg.Host == "" {
		errs = append(errs, errors.New("host: the address of a Swarm manager's engine is required"))
	} else if _, err := client.ParseHostURL(cfg.Host); err != nil {
		errs = append(errs, fmt.Errorf("host %q: %v", cfg.Host, err))
	}
	if !networkNameRE.MatchString(cfg.NetworkPrefix) {
		errs = append(errs, fmt.Errorf("network %q must start with a letter or digit and contain only letters, digits, '_', '.' or '-'", cfg.NetworkPrefix))
	}
	pool, err := docker.ParsePool(cfg.SubnetPool, cfg.SubnetPrefixLength)
	if err != nil {
		errs = append(errs, err)
	}
	if err := cfg.RegistryAuth.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.PidsLimit < 0 {
		errs = append(errs, fmt.Errorf("pids limit %d must be positive", cfg.PidsLimit))
	}
	for node, h := range cfg.NodeHosts {
		if _, err := client.ParseHostURL(h); err != nil {
			errs = append(errs, fmt.Errorf("node_hosts[%q] %q: %v", node, h, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("swarm configuration: %w", err)
	}
	cli, err := docker.NewEngineClient(cfg.Host, cfg.CAMaterial, cfg.CertMaterial, cfg.KeyMaterial)
	if err != nil {
		return nil, err
	}
	return &Backend{
		cfg:     cfg,
		cli:     cli,
		subnets: docker.NewSubnetAllocator(pool, cfg.SubnetPrefixLength),
		engines: map[string]*engine{},
	}, nil
}

// Type is swarm.
func (b *Backend) Type() workshop.InfrastructureType { return workshop.InfraSwarm }

// Host is the manager's address.
func (b *Backend) Host() string { return b.cfg.Host }

// Close releases idle connections.
func (b *Backend) Close() error { return b.cli.Close() }

// Pool is the subnet pool of session overlays.
func (b *Backend) Pool() netip.Prefix { return b.subnets.Pool() }

// self returns the manager's node ID (its tasks run on the manager's own engine).
// A failure is not cached: the next call asks again.
func (b *Backend) self(ctx context.Context) (string, error) {
	b.selfMu.Lock()
	defer b.selfMu.Unlock()
	if b.selfNode != "" {
		return b.selfNode, nil
	}
	info, err := b.cli.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("swarm manager at %s: %w", b.cfg.Host, err)
	}
	if err := checkManager(b.cfg.Host, info.Swarm); err != nil {
		return "", err
	}
	b.selfNode = info.Swarm.NodeID
	return b.selfNode, nil
}

// checkManager refuses an engine that is not an active Swarm manager.
func checkManager(host string, s swarm.Info) error {
	if s.LocalNodeState != swarm.LocalNodeStateActive {
		return fmt.Errorf("the engine at %s is not part of a swarm (state %q): run `docker swarm init` there, or point swarm.host at a manager", host, s.LocalNodeState)
	}
	if !s.ControlAvailable {
		return fmt.Errorf("the engine at %s is a swarm worker, not a manager: point swarm.host at a manager node", host)
	}
	return nil
}

// engineFor returns the engine of a node: the manager's own, or the one swarm.node_hosts
// names (by hostname or ID). The error says what to configure.
func (b *Backend) engineFor(ctx context.Context, nodeID string) (*engine, error) {
	self, err := b.self(ctx)
	if err != nil {
		return nil, err
	}
	host := b.cfg.Host
	if nodeID != self {
		node, _, err := b.cli.NodeInspectWithRaw(ctx, nodeID)
		if docker.IsNotFound(err) {
			return nil, fmt.Errorf("node %s: %w", nodeID, errNodeGone)
		}
		if err != nil {
			return nil, fmt.Errorf("inspect node %s: %w", nodeID, err)
		}
		hn := node.Description.Hostname
		h, ok := b.cfg.NodeHosts[hn]
		if !ok {
			h, ok = b.cfg.NodeHosts[nodeID]
		}
		if !ok {
			return nil, fmt.Errorf("node %s (hostname %q) runs the task, and swarm.node_hosts names no engine address for it: add node_hosts = { %q = \"tcp://<its address>:2376\" } to the provider's swarm block", nodeID, hn, hn)
		}
		host = h
	}
	return b.engineAt(host)
}

// engineAt returns (and caches) the engine at host.
func (b *Backend) engineAt(host string) (*engine, error) {
	b.engMu.Lock()
	defer b.engMu.Unlock()
	if e, ok := b.engines[host]; ok {
		return e, nil
	}
	cli := b.cli
	if host != b.cfg.Host {
		var err error
		if cli, err = docker.NewEngineClient(host, b.cfg.CAMaterial, b.cfg.CertMaterial, b.cfg.KeyMaterial); err != nil {
			return nil, err
		}
	}
	ex, err := docker.New(docker.Config{Host: host, CAMaterial: b.cfg.CAMaterial, CertMaterial: b.cfg.CertMaterial, KeyMaterial: b.cfg.KeyMaterial})
	if err != nil {
		return nil, err
	}
	e := &engine{host: host, cli: cli, exec: ex}
	b.engines[host] = e
	return e, nil
}

// allEngines are the manager's engine and every configured node engine: where session
// volumes and task containers may be.
func (b *Backend) allEngines() ([]*engine, error) {
	hosts := []string{b.cfg.Host}
	for _, h := range b.cfg.NodeHosts {
		if h != b.cfg.Host {
			hosts = append(hosts, h)
		}
	}
	var out []*engine
	seen := map[string]bool{}
	for _, h := range hosts {
		if seen[h] {
			continue
		}
		seen[h] = true
		e, err := b.engineAt(h)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
