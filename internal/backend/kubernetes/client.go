package kubernetes

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"sync"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Backend implements workshop.Backend on a Kubernetes cluster (namespace isolation).
type Backend struct {
	cfg    Config
	rest   *rest.Config
	cs     k8s.Interface
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper

	locks workshop.SessionLocks
	reads sessionReads // class-wide listings shared by session reads

	// portRT is the gateway's transport to the API server's proxy (PortTransport).
	portOnce sync.Once
	portRT   http.RoundTripper
}

var _ workshop.Backend = (*Backend)(nil)

// New builds the clients. It does not dial the cluster.
func New(cfg Config) (*Backend, error) {
	c, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	rc, err := restConfig(c)
	if err != nil {
		return nil, err
	}
	cs, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return &Backend{cfg: c, rest: rc, cs: cs, dyn: dyn, mapper: mapper}, nil
}

// restConfig builds the client configuration from the kubeconfig (and its context),
// then applies host, token and CA overrides.
func restConfig(c Config) (*rest.Config, error) {
	var rc *rest.Config
	if c.ConfigPath != "" {
		// KUBECONFIG may list several files (merged, first wins), like kubectl.
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: c.ConfigPath}
		if paths := filepath.SplitList(c.ConfigPath); len(paths) > 1 {
			rules = &clientcmd.ClientConfigLoadingRules{Precedence: paths}
		}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
		var err error
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes config_path %s: %w", c.ConfigPath, err)
		}
	} else {
		rc = &rest.Config{}
	}
	if c.Host != "" {
		rc.Host = c.Host
	}
	if c.Token != "" {
		rc.BearerToken = c.Token
		rc.BearerTokenFile = ""
	}
	if c.ClusterCACertificate != "" {
		rc.CAData = []byte(c.ClusterCACertificate)
		rc.CAFile = ""
	}
	if c.Exec != nil {
		ec := &clientcmdapi.ExecConfig{
			APIVersion:      c.Exec.APIVersion,
			Command:         c.Exec.Command,
			Args:            c.Exec.Args,
			InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
		}
		for k, v := range c.Exec.Env {
			ec.Env = append(ec.Env, clientcmdapi.ExecEnvVar{Name: k, Value: v})
		}
		sort.Slice(ec.Env, func(i, j int) bool { return ec.Env[i].Name < ec.Env[j].Name })
		rc.ExecProvider = ec
		rc.BearerToken, rc.BearerTokenFile = "", ""
		rc.Username, rc.Password = "", ""
		rc.CertData, rc.KeyData, rc.CertFile, rc.KeyFile = nil, nil, "", ""
		rc.AuthProvider = nil
	}
	if c.Insecure {
		rc.Insecure = true
		rc.CAData, rc.CAFile = nil, ""
	}
	if rc.Host == "" {
		return nil, fmt.Errorf("kubernetes: no API server address (set host or a kubeconfig context with a server)")
	}
	rc.UserAgent = "terraform-provider-nalabo"
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 100, 200 // a class of 30 created or deleted at once
	}
	return rc, nil
}

// Type is "kubernetes".
func (b *Backend) Type() workshop.InfrastructureType { return workshop.InfraKubernetes }

// Host is the API server address.
func (b *Backend) Host() string { return b.rest.Host }

func (b *Backend) lockSession(id string) func() {
	return b.locks.Lock(id)
}
