// Package kubernetes is the Kubernetes backend in its "namespace" isolation mode: one
// locked-down namespace per session (Pod Security, ResourceQuota, LimitRange,
// NetworkPolicies, a ServiceAccount bound to its own namespace), a workspace pod and the
// template's manifests applied by server-side apply.
package kubernetes

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is the Kubernetes backend's configuration. The provider fills it from the
// provider block and the environment fallbacks of internal/envconfig; the reconciler
// from the same fallbacks.
type Config struct {
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
	// Exec is a client-go credential plugin (client.authentication.k8s.io) run to get
	// a token; it overrides the kubeconfig user's credentials.
	Exec *ExecPlugin
	// VCluster configures isolation = "vcluster" (see vcluster_config.go).
	VCluster VClusterConfig
	// EgressDeny are CIDRs (IPv4 and IPv6) no session pod reaches: the except list of
	// the session's egress NetworkPolicy. nil: DefaultEgressDeny; empty: none.
	EgressDeny []string
}

// ExecPlugin is an exec credential plugin, as in a kubeconfig's users[].user.exec.
type ExecPlugin struct {
	APIVersion string
	Command    string
	Args       []string
	Env        map[string]string
}

// DefaultNamespace is the default control namespace.
const DefaultNamespace = "nalabo"

// validate fills defaults and checks every field.
func (c Config) validate() (Config, error) {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		return c, fmt.Errorf("kubernetes namespace %q: %s", c.Namespace, errs[0])
	}
	if c.ConfigPath == "" && c.Host == "" {
		return c, errors.New("kubernetes: neither config_path nor host is set")
	}
	if c.Exec != nil && (c.Exec.Command == "" || c.Exec.APIVersion == "") {
		return c, errors.New("kubernetes exec: api_version and command are required")
	}
	if c.Insecure && c.ClusterCACertificate != "" {
		return c, errors.New("kubernetes: insecure and cluster_ca_certificate are mutually exclusive")
	}
	if c.EgressDeny == nil {
		c.EgressDeny = DefaultEgressDeny
	}
	for _, cidr := range c.EgressDeny {
		if err := ValidateEgressCIDR(cidr); err != nil {
			return c, fmt.Errorf("kubernetes egress_deny: %w", err)
		}
	}
	return c, nil
}
