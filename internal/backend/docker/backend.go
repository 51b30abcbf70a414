package docker

import (
	"fmt"

	"github.com/docker/docker/client"
	"golang.org/x/sync/singleflight"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.Backend = (*Backend)(nil)

// Backend is the Docker implementation of workshop.Backend. Every method is safe for
// concurrent use.
type Backend struct {
	cfg     settings
	cli     *client.Client
	subnets *subnetAllocator
	facts   daemonFactsCache
	pulls   singleflight.Group // image pulls in flight, by reference
	builds  singleflight.Group // image builds in flight, by tag
}

// New checks the configuration and builds a client; it does not dial the daemon.
func New(cfg Config) (*Backend, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("docker configuration: %w", err)
	}
	cli, err := newClient(s)
	if err != nil {
		return nil, err
	}
	return &Backend{
		cfg:     s,
		cli:     cli,
		subnets: newSubnetAllocator(s.pool, s.SubnetPrefixLength),
	}, nil
}

// Type is docker.
func (b *Backend) Type() workshop.InfrastructureType { return workshop.InfraDocker }

// Host is the daemon address the backend talks to.
func (b *Backend) Host() string { return b.cfg.Host }

// Close releases idle connections to the daemon.
func (b *Backend) Close() error { return b.cli.Close() }
