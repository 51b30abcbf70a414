package config

// Swarm is the Swarm backend's configuration: a Docker engine that is a Swarm manager.
// Sessions run as services on overlay networks; exec reaches a task's container through
// the engine of the node it runs on.
type Swarm struct {
	// Host is the manager's Engine API address (unix://, tcp://, https://). Required:
	// the provider never turns an engine into a Swarm manager by guessing.
	Host string
	// NetworkPrefix names per-session overlay networks: <NetworkPrefix>-<session id>,
	// default "nalabo-swarm".
	NetworkPrefix string
	// SubnetPool is the CIDR per-session overlays are carved from, default
	// 10.216.0.0/16; SubnetPrefixLength is the size of each, default 28.
	SubnetPool         string
	SubnetPrefixLength int
	// Encrypted turns on IPsec encryption of the session overlays' VXLAN traffic between
	// nodes (Swarm's --opt encrypted).
	Encrypted bool
	// PidsLimit caps processes per task container, default DefaultDockerPidsLimit.
	PidsLimit int64
	// NodeHosts maps a node (its hostname or ID) to its engine's API address, for exec in
	// tasks running on workers. The manager's own node needs no entry.
	NodeHosts map[string]string
	// RegistryAuth are the registry logins of the manager's template pulls and of the
	// session services (forwarded to the node that runs the task), at most one per
	// registry. No environment fallback: only the provider's swarm block sets them.
	RegistryAuth RegistryAuths
	// TLS material (PEM contents) for the manager and the node engines.
	CAMaterial   string
	CertMaterial string
	KeyMaterial  string
}

// Defaults of Swarm.
const (
	DefaultSwarmNetworkPrefix      = "nalabo-swarm"
	DefaultSwarmSubnetPool         = "10.216.0.0/16"
	DefaultSwarmSubnetPrefixLength = 28
)
