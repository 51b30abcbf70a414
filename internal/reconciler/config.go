// Package reconciler is `terraform-provider-nalabo reconcile`: a long-running process
// that, every interval, lists the sessions of every configured backend by label,
// deletes those past expires_at plus a grace period, samples their usage, optionally
// runs their templates' validation checks, and serves /healthz, /readyz and Prometheus
// /metrics. On Kubernetes, replicas elect a leader (a Lease in the control namespace):
// only the leader deletes and validates. On Docker, two reconcilers on one host are
// safe: a delete of a deleted session succeeds and each session is counted once.
package reconciler

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/swarm"
	"github.com/nalabo/terraform-provider-nalabo/internal/envconfig"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Defaults of the flags.
const (
	DefaultInterval         = time.Minute
	DefaultGrace            = 5 * time.Minute
	DefaultRemnantGrace     = 30 * time.Minute
	DefaultListen           = "127.0.0.1:9464"
	DefaultValidateInterval = 5 * time.Minute
	DefaultParallelism      = 4
	DefaultDeleteTimeout    = 5 * time.Minute
	DefaultStorageInterval  = 5 * time.Minute
)

// Config is the reconciler's configuration: flags over environment variables.
type Config struct {
	Interval time.Duration
	Grace    time.Duration
	// RemnantGrace is how old an incomplete session (its create never finished) or one
	// without its workspace must be before it is deleted: longer than any create takes.
	RemnantGrace time.Duration
	Listen       string // "" serves nothing
	Backends     []workshop.InfrastructureType
	Once         bool
	// Templates, when set, restricts the reconciler to sessions of these template names.
	Templates []string
	// ValidateInterval is how often each session's validation checks run (0: never).
	ValidateInterval time.Duration
	Parallelism      int
	DeleteTimeout    time.Duration
	DryRun           bool
	// StorageInterval is how often sessions' disk use is measured on backends that can
	// (Docker: /system/df); 0 never. StopOverQuota stops a session over its storage.
	StorageInterval time.Duration
	StopOverQuota   bool
	// Leader election (Kubernetes backend only).
	LeaderElect bool
	LeaseName   string
	Identity    string
	// Logging.
	LogLevel string
	LogJSON  bool

	Docker     docker.Config
	Kubernetes kubernetes.Config
	// Swarm is --backend swarm's manager (NALABO_SWARM_HOST).
	Swarm swarm.Config
}

// backendList is the repeatable --backend flag.
type backendList struct {
	set  bool
	list []workshop.InfrastructureType
	// swarm: this command accepts --backend swarm too (the reconciler; not the gateway).
	swarm bool
}

func (b *backendList) String() string {
	s := make([]string, len(b.list))
	for i, v := range b.list {
		s[i] = string(v)
	}
	return strings.Join(s, ",")
}

func (b *backendList) Set(v string) error {
	if !b.set {
		b.list, b.set = nil, true
	}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		switch workshop.InfrastructureType(part) {
		case workshop.InfraDocker, workshop.InfraKubernetes:
		case workshop.InfraSwarm:
			if !b.swarm {
				return fmt.Errorf("must be docker or kubernetes, got %q", part)
			}
		default:
			if b.swarm {
				return fmt.Errorf("must be docker, kubernetes or swarm, got %q", part)
			}
			return fmt.Errorf("must be docker or kubernetes, got %q", part)
		}
		for _, have := range b.list {
			if string(have) == part {
				return fmt.Errorf("%s given twice", part)
			}
		}
		b.list = append(b.list, workshop.InfrastructureType(part))
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Usage is printed by -h.
const usageHead = `Usage: terraform-provider-nalabo reconcile [flags]

Deletes the sessions past expires_at plus --grace on every --backend, every --interval,
and the remnants of interrupted creates (incomplete sessions, sessions without their
workspace) older than --remnant-grace, and serves /healthz, /readyz and /metrics on --listen.

Environment (as the provider's, see its documentation): %s;
%s (K8S_NAMESPACE: the control namespace, default
"nalabo"). Inside a pod without any of these, the pod's service account is used.
NALABO_LOG_LEVEL sets the log level, POD_NAME the leader election identity.

Flags:
`

// ParseArgs parses the reconcile sub-command's arguments; getenv reads the environment
// (os.Getenv, or a map in tests). Errors name the flag or variable.
func ParseArgs(args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := &Config{}
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	if usageOut == nil {
		usageOut = io.Discard
	}
	fs.SetOutput(usageOut)
	fs.Usage = func() {
		fmt.Fprintf(usageOut, usageHead, strings.Join(envconfig.Names("docker"), ", "), strings.Join(envconfig.Names("kubernetes"), ", "))
		fs.PrintDefaults()
	}
	backends := addBackendFlag(fs, true)
	var templates stringList
	fs.DurationVar(&cfg.Interval, "interval", DefaultInterval, "time between two passes")
	fs.DurationVar(&cfg.Grace, "grace", DefaultGrace, "how long after expires_at a session is deleted")
	fs.DurationVar(&cfg.RemnantGrace, "remnant-grace", DefaultRemnantGrace,
		"how old a remnant (a session whose create never finished, or without its workspace) must be before it is deleted; keep it above the longest create timeout")
	fs.StringVar(&cfg.Listen, "listen", DefaultListen, "address of /healthz, /readyz and /metrics (empty: no HTTP server)")
	fs.BoolVar(&cfg.Once, "once", false, "run one pass and exit (no HTTP server, no leader election); exit status 1 when the pass had errors")
	fs.Var(&templates, "template", "only handle sessions of this template name; repeatable (default all)")
	fs.DurationVar(&cfg.ValidateInterval, "validate-interval", DefaultValidateInterval,
		"how often the templates' validation checks run in each live session (0 disables)")
	fs.IntVar(&cfg.Parallelism, "parallelism", DefaultParallelism, "sessions deleted, sampled or validated at once, per backend")
	fs.DurationVar(&cfg.DeleteTimeout, "delete-timeout", DefaultDeleteTimeout, "how long one session's delete may take")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "log what would be deleted, delete nothing")
	fs.DurationVar(&cfg.StorageInterval, "storage-interval", DefaultStorageInterval,
		"how often each session's disk use (writable layers and volumes) is measured on Docker, and sessions over their storage marked over_quota (0 disables)")
	fs.BoolVar(&cfg.StopOverQuota, "stop-over-quota", false, "stop the containers of a session marked over_quota (its data stays until the session is deleted)")
	fs.BoolVar(&cfg.LeaderElect, "leader-elect", true, "with the kubernetes backend, elect a leader through a Lease in the control namespace; only the leader deletes and validates")
	fs.StringVar(&cfg.LeaseName, "lease-name", kubernetes.DefaultLeaseName, "name of the leader election Lease")
	fs.StringVar(&cfg.Identity, "identity", "", "leader election identity (default $POD_NAME, else host name and process id)")
	fs.StringVar(&cfg.LogLevel, "log-level", "", "trace, debug, info, warn or error (default $NALABO_LOG_LEVEL, else info)")
	fs.BoolVar(&cfg.LogJSON, "log-json", false, "write logs as JSON lines")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	cfg.Backends = backends()
	cfg.Templates = templates
	for _, n := range cfg.Templates {
		if err := workshop.ValidateTemplateName(n); err != nil {
			return nil, fmt.Errorf("--template %q: %v", n, err)
		}
	}
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("--interval must be positive, got %s", cfg.Interval)
	}
	if cfg.Grace < 0 {
		return nil, fmt.Errorf("--grace must not be negative, got %s", cfg.Grace)
	}
	if cfg.RemnantGrace < 0 {
		return nil, fmt.Errorf("--remnant-grace must not be negative, got %s", cfg.RemnantGrace)
	}
	if cfg.ValidateInterval < 0 {
		return nil, fmt.Errorf("--validate-interval must not be negative, got %s", cfg.ValidateInterval)
	}
	if cfg.Parallelism < 1 {
		return nil, fmt.Errorf("--parallelism must be at least 1, got %d", cfg.Parallelism)
	}
	if cfg.StorageInterval < 0 {
		return nil, fmt.Errorf("--storage-interval must not be negative, got %s", cfg.StorageInterval)
	}
	if cfg.DeleteTimeout <= 0 {
		return nil, fmt.Errorf("--delete-timeout must be positive, got %s", cfg.DeleteTimeout)
	}
	if cfg.Listen != "" {
		if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
			return nil, fmt.Errorf("--listen %q: %v (want host:port, e.g. %s)", cfg.Listen, err, DefaultListen)
		}
	}
	var err error
	if cfg.LogLevel, err = ResolveLogLevel(cfg.LogLevel, getenv); err != nil {
		return nil, err
	}
	if cfg.Identity == "" {
		cfg.Identity = getenv("POD_NAME")
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.Docker, cfg.Kubernetes, err = BackendSettings(cfg.Backends, getenv); err != nil {
		return nil, err
	}
	if cfg.HasBackend(workshop.InfraSwarm) {
		// The manager lists and deletes the services; the engines of the other nodes
		// (NALABO_SWARM_NODE_HOSTS, the provider's swarm.node_hosts) remove the workspace
		// volumes left there and read the sessions' usage.
		cfg.Swarm = swarm.Config{Host: getenv("NALABO_SWARM_HOST")}
		if cfg.Swarm.Host == "" {
			return nil, errors.New("--backend swarm needs NALABO_SWARM_HOST, the address of a Swarm manager's engine")
		}
		if cfg.Swarm.NodeHosts, err = parseNodeHosts(getenv("NALABO_SWARM_NODE_HOSTS")); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// AddBackendFlag registers the repeatable --backend flag (default docker) on fs; the
// returned function gives the parsed list. The gateway shares it.
func AddBackendFlag(fs *flag.FlagSet) func() []workshop.InfrastructureType {
	return addBackendFlag(fs, false)
}

// addBackendFlag is AddBackendFlag, with swarm accepted when withSwarm.
func addBackendFlag(fs *flag.FlagSet, withSwarm bool) func() []workshop.InfrastructureType {
	b := &backendList{list: []workshop.InfrastructureType{workshop.InfraDocker}, swarm: withSwarm}
	usage := "docker or kubernetes; repeat (or comma-separate) for both"
	if withSwarm {
		usage = "docker, kubernetes or swarm (its manager: NALABO_SWARM_HOST, the other nodes' engines: NALABO_SWARM_NODE_HOSTS=node=address,...); repeat (or comma-separate) for several"
	}
	fs.Var(b, "backend", usage)
	return func() []workshop.InfrastructureType { return b.list }
}

// ResolveLogLevel returns the --log-level value, else $NALABO_LOG_LEVEL, else info,
// checked.
func ResolveLogLevel(flagValue string, getenv func(string) string) (string, error) {
	if flagValue == "" {
		flagValue = getenv("NALABO_LOG_LEVEL")
	}
	if flagValue == "" {
		flagValue = "info"
	}
	switch strings.ToLower(flagValue) {
	case "trace", "debug", "info", "warn", "error":
		return flagValue, nil
	}
	return "", fmt.Errorf("--log-level must be trace, debug, info, warn or error, got %q", flagValue)
}

// BackendSettings reads the settings of each backend from the provider's environment
// variables (envconfig); on Kubernetes, inside a pod with none of them, the pod's
// service account. Errors name the variable.
func BackendSettings(backends []workshop.InfrastructureType, getenv func(string) string) (docker.Config, kubernetes.Config, error) {
	var d docker.Config
	var k kubernetes.Config
	var err error
	for _, b := range backends {
		switch b {
		case workshop.InfraDocker:
			if _, err = envconfig.Docker(&d, getenv); err != nil {
				return d, k, err
			}
		case workshop.InfraKubernetes:
			if k, err = kubernetesConfigFromEnv(getenv); err != nil {
				return d, k, err
			}
		}
	}
	return d, k, nil
}

// HasBackend reports whether a backend type is configured.
func (c *Config) HasBackend(t workshop.InfrastructureType) bool {
	for _, b := range c.Backends {
		if b == t {
			return true
		}
	}
	return false
}

// In-cluster service account files (a pod's projected token, rotated by the kubelet).
var (
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// kubernetesConfigFromEnv reads the provider's Kubernetes environment variables; inside
// a pod with none of them it uses the pod's service account.
func kubernetesConfigFromEnv(getenv func(string) string) (kubernetes.Config, error) {
	var cfg kubernetes.Config
	if _, err := envconfig.Kubernetes(&cfg, getenv); err != nil {
		return cfg, err
	}
	if cfg.ConfigPath == "" && cfg.Host == "" {
		host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return cfg, errors.New("--backend kubernetes: set KUBECONFIG or K8S_ENDPOINT (with K8S_TOKEN and K8S_CLUSTER_CA_CERTIFICATE), or KUBE_CONFIG_PATH, " +
				"or run inside a pod with a service account")
		}
		path, err := writeInClusterKubeconfig("https://"+net.JoinHostPort(host, port), serviceAccountDir)
		if err != nil {
			return cfg, fmt.Errorf("--backend kubernetes: in-cluster configuration: %w", err)
		}
		cfg.ConfigPath = path
		if cfg.Namespace == "" {
			if ns, err := os.ReadFile(serviceAccountDir + "/namespace"); err == nil {
				cfg.Namespace = strings.TrimSpace(string(ns))
			}
		}
	}
	return cfg, nil
}

// writeInClusterKubeconfig writes a kubeconfig that points at the pod's service account
// files by path (tokenFile), so the client re-reads the token the kubelet rotates. The
// file holds no secret itself.
func writeInClusterKubeconfig(server, saDir string) (string, error) {
	for _, f := range []string{"token", "ca.crt"} {
		if _, err := os.Stat(saDir + "/" + f); err != nil {
			return "", fmt.Errorf("service account %s: %w", f, err)
		}
	}
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: in-cluster
  cluster:
    server: %s
    certificate-authority: %s/ca.crt
users:
- name: service-account
  user:
    tokenFile: %s/token
contexts:
- name: in-cluster
  context:
    cluster: in-cluster
    user: service-account
current-context: in-cluster
`, server, saDir, saDir)
	f, err := os.CreateTemp("", "nalabo-reconciler-kubeconfig-*.yaml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// parseNodeHosts reads NALABO_SWARM_NODE_HOSTS: comma-separated node=address pairs
// ("nalabo-swarm-2=tcp://10.0.0.12:2376"), a node named by its hostname or ID.
func parseNodeHosts(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		node, addr, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || node == "" || addr == "" {
			return nil, fmt.Errorf("NALABO_SWARM_NODE_HOSTS: %q is not node=address (for example nalabo-swarm-2=tcp://10.0.0.12:2376)", pair)
		}
		out[node] = addr
	}
	return out, nil
}
