// Package kubernetes is the Kubernetes backend in its "namespace" isolation mode: one
// locked-down namespace per session (Pod Security, ResourceQuota, LimitRange,
// NetworkPolicies, a ServiceAccount bound to its own namespace), a workspace pod and the
// template's manifests applied by server-side apply.
package kubernetes

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
)

// Config is the Kubernetes backend's configuration (see config.Kubernetes). The
// provider fills it from the provider block and the environment fallbacks of
// internal/envconfig; the reconciler from the same fallbacks.
type Config = config.Kubernetes

// ExecPlugin is an exec credential plugin, as in a kubeconfig's users[].user.exec.
type ExecPlugin = config.ExecPlugin

// VClusterConfig configures isolation = "vcluster" (internal/vcluster).
type VClusterConfig = vcluster.Config

// DefaultNamespace is the default control namespace.
const DefaultNamespace = config.DefaultKubernetesNamespace

// validate fills defaults and checks every field.
func validate(c Config) (Config, error) {
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
	if err := c.RegistryAuth.Validate(); err != nil {
		return c, fmt.Errorf("kubernetes: %w", err)
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
