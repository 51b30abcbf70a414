// Package docker is the Docker backend: one network, one workspace container (plus its
// Compose services) and its volumes per session, through the Docker Engine API.
package docker

// Config is the Docker backend's configuration. The provider fills it from the
// provider block and its environment fallbacks; the reconciler from flags and the
// same environment variables.
type Config struct {
	// Host is the daemon address (DOCKER_HOST), default unix:///var/run/docker.sock.
	Host string
	// NetworkPrefix names per-session networks: <NetworkPrefix>-<session id>
	// (DOCKER_NETWORK, default "nalabo-network").
	NetworkPrefix string
	// BindAddress is where published ports listen, default 127.0.0.1.
	BindAddress string
	// SubnetPool is the CIDR per-session networks are carved from, default
	// 10.213.0.0/16; SubnetPrefixLength is the size of each, default 28.
	SubnetPool         string
	SubnetPrefixLength int
	// RegistryAuth is used for every pull (DOCKER_USERNAME, DOCKER_PASSWORD).
	RegistryAuth *RegistryAuth
	// TLS material: a directory with ca.pem, cert.pem, key.pem (DOCKER_CERT_PATH), or
	// the PEM contents themselves.
	CertPath     string
	CAMaterial   string
	CertMaterial string
	KeyMaterial  string
	// PidsLimit caps processes per container, default 512.
	PidsLimit int64
}

// RegistryAuth is a registry login. Password is a secret: never log it.
type RegistryAuth struct {
	Address  string
	Username string
	Password string
}

// Defaults.
const (
	DefaultHost               = "unix:///var/run/docker.sock"
	DefaultNetworkPrefix      = "nalabo-network"
	DefaultBindAddress        = "127.0.0.1"
	DefaultSubnetPool         = "10.213.0.0/16"
	DefaultSubnetPrefixLength = 28
	DefaultPidsLimit          = 512
)
