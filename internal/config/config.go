// Package config holds the backends' configurations as plain data. The provider and
// the reconciler fill them (with internal/envconfig's environment fallbacks) without
// importing a backend; each backend validates its own when it is built
// (docker.New, kubernetes.New), and its package names these types docker.Config and
// kubernetes.Config.
package config

import (
	"fmt"
	"net/netip"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
)

// Docker is the Docker backend's configuration.
type Docker struct {
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
	// RegistryAuth are the registry logins of pulls and builds, at most one per
	// registry; DOCKER_USERNAME and DOCKER_PASSWORD fill the default one.
	RegistryAuth RegistryAuths
	// TLS material: a directory with ca.pem, cert.pem, key.pem (DOCKER_CERT_PATH), or
	// the PEM contents themselves.
	CertPath     string
	CAMaterial   string
	CertMaterial string
	KeyMaterial  string
	// PidsLimit caps processes per container, default 512.
	PidsLimit int64
	// EgressDeny are the CIDRs (IPv4 and IPv6) sessions with egress "restricted" cannot
	// reach; nil means netguard.DefaultDeny (the cloud metadata endpoints), an empty
	// list none. Added to the host's deny sets (a union with every other configuration
	// that used the same engine).
	EgressDeny []string
}

// Defaults of Docker.
const (
	DefaultDockerHost               = "unix:///var/run/docker.sock"
	DefaultDockerNetworkPrefix      = "nalabo-network"
	DefaultDockerBindAddress        = "127.0.0.1"
	DefaultDockerSubnetPool         = "10.213.0.0/16"
	DefaultDockerSubnetPrefixLength = 28
	DefaultDockerPidsLimit          = 512
)

// Kubernetes is the Kubernetes backend's configuration.
type Kubernetes struct {
	// ConfigPath is a kubeconfig file; Context selects one of its contexts.
	ConfigPath string
	Context    string
	// Host, Token and ClusterCACertificate (PEM) configure the client directly; they
	// override what the kubeconfig says.
	Host                 string
	Token                string // secret: never log it
	ClusterCACertificate string
	Insecure             bool
	// Namespace is the control namespace where templates are stored, default "nalabo".
	Namespace string
	// ParticipantServer is the API server address written into participant
	// kubeconfigs, default the address this backend talks to.
	ParticipantServer string
	// RegistryAuth are the registry logins session pods pull with: a
	// kubernetes.io/dockerconfigjson Secret in each session namespace.
	RegistryAuth RegistryAuths
	// Exec is a client-go credential plugin (client.authentication.k8s.io) run to get
	// a token; it overrides the kubeconfig user's credentials.
	Exec *ExecPlugin
	// VCluster configures isolation = "vcluster".
	VCluster vcluster.Config
	// EgressDeny are CIDRs (IPv4 and IPv6) no session pod reaches: the except list of
	// the session's egress NetworkPolicy. nil: DefaultKubernetesEgressDeny; empty: none.
	EgressDeny []string
}

// ExecPlugin is an exec credential plugin, as in a kubeconfig's users[].user.exec.
type ExecPlugin struct {
	APIVersion string
	Command    string
	Args       []string
	Env        map[string]string
}

// DefaultKubernetesNamespace is the default control namespace.
const DefaultKubernetesNamespace = "nalabo"

// DefaultKubernetesEgressDeny are the addresses sessions never reach when the
// provider's kubernetes.egress_deny is not set: the cloud metadata endpoints (IPv4, and
// AWS's IPv6).
var DefaultKubernetesEgressDeny = []string{"169.254.169.254/32", "fd00:ec2::254/128"}

// ValidateKubernetesEgressCIDR accepts what a NetworkPolicy's ipBlock.except can hold:
// an IPv4 or IPv6 CIDR in canonical form (no host bits), narrower than /0.
func ValidateKubernetesEgressCIDR(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is not a CIDR (for example 169.254.169.254/32 or fd00:ec2::254/128)", s)
	}
	if p.Masked() != p {
		return fmt.Errorf("%q has host bits set; write %s", s, p.Masked())
	}
	if p.Bits() == 0 {
		return fmt.Errorf("%q would deny every address; NetworkPolicies cannot except a whole address family", s)
	}
	return nil
}
