// Package docker is the Docker backend: one network, one workspace container (plus its
// Compose services) and its volumes per session, through the Docker Engine API.
package docker

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/docker/docker/client"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/netguard"
)

// Config is the Docker backend's configuration (see config.Docker). The provider
// fills it from the provider block and the environment fallbacks of internal/envconfig;
// the reconciler from the same fallbacks.
type Config = config.Docker

// RegistryAuth is a registry login. Password is a secret: never log it.
type RegistryAuth = config.RegistryAuth

// RegistryAuths are the logins of a backend, at most one per registry.
type RegistryAuths = config.RegistryAuths

// Defaults.
const (
	DefaultHost               = config.DefaultDockerHost
	DefaultNetworkPrefix      = config.DefaultDockerNetworkPrefix
	DefaultBindAddress        = config.DefaultDockerBindAddress
	DefaultSubnetPool         = config.DefaultDockerSubnetPool
	DefaultSubnetPrefixLength = config.DefaultDockerSubnetPrefixLength
	DefaultPidsLimit          = config.DefaultDockerPidsLimit
)

// settings is a validated Config with its defaults filled in and its pool parsed.
type settings struct {
	Config
	pool       netip.Prefix
	egressDeny []netip.Prefix
}

// validate fills the defaults of zero values and checks every field. Error messages
// name the field and never include the registry password.
func validate(c Config) (settings, error) {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.NetworkPrefix == "" {
		c.NetworkPrefix = DefaultNetworkPrefix
	}
	if c.BindAddress == "" {
		c.BindAddress = DefaultBindAddress
	}
	if c.SubnetPool == "" {
		c.SubnetPool = DefaultSubnetPool
	}
	if c.SubnetPrefixLength == 0 {
		c.SubnetPrefixLength = DefaultSubnetPrefixLength
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = DefaultPidsLimit
	}
	s := settings{Config: c}
	var errs []error
	if u, err := client.ParseHostURL(c.Host); err != nil {
		errs = append(errs, fmt.Errorf("host %q: %v", c.Host, err))
	} else if !supportedSchemes[u.Scheme] {
		errs = append(errs, fmt.Errorf("host %q: scheme %q is not supported (use unix://, tcp://, http:// or https://)", c.Host, u.Scheme))
	}
	if !networkNameRE.MatchString(c.NetworkPrefix) {
		errs = append(errs, fmt.Errorf("network %q must start with a letter or digit and contain only letters, digits, '_', '.' or '-'", c.NetworkPrefix))
	}
	if _, err := netip.ParseAddr(c.BindAddress); err != nil {
		errs = append(errs, fmt.Errorf("bind address %q is not an IP address", c.BindAddress))
	}
	pool, err := parsePool(c.SubnetPool, c.SubnetPrefixLength)
	if err != nil {
		errs = append(errs, err)
	}
	s.pool = pool
	deny := c.EgressDeny
	if deny == nil {
		deny = netguard.DefaultDeny
	}
	if s.egressDeny, err = netguard.ParseDeny(deny); err != nil {
		errs = append(errs, fmt.Errorf("egress deny: %w", err))
	}
	if c.PidsLimit < 0 {
		errs = append(errs, fmt.Errorf("pids limit %d must be positive", c.PidsLimit))
	}
	if err := validateTLS(c); err != nil {
		errs = append(errs, err)
	}
	if err := c.RegistryAuth.Validate(); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

var supportedSchemes = map[string]bool{"unix": true, "tcp": true, "http": true, "https": true, "npipe": true}

var networkNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,200}$`)

// parsePool parses the subnet pool and checks the per-session prefix length against it.
func parsePool(cidr string, bits int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("subnet pool %q is not an IPv4 CIDR (example: %q)", cidr, DefaultSubnetPool)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("subnet pool %q is not a network address; did you mean %q?", cidr, p.Masked().String())
	}
	if bits <= p.Bits() || bits > 29 {
		return netip.Prefix{}, fmt.Errorf("subnet prefix length %d must be longer than the pool's /%d and at most 29", bits, p.Bits())
	}
	return p, nil
}

func validateTLS(c Config) error {
	material := c.CAMaterial != "" || c.CertMaterial != "" || c.KeyMaterial != ""
	if c.CertPath != "" && material {
		return errors.New("TLS: give either a certificate directory or the PEM materials, not both")
	}
	if (c.CertMaterial == "") != (c.KeyMaterial == "") {
		return errors.New("TLS: a client certificate needs its key and a key needs its certificate")
	}
	return nil
}
