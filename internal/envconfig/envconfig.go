// Package envconfig owns the environment variables that backend settings fall back
// to: one table, read by the provider (attribute > variable > default) and by the
// reconciler (flag > variable > default) alike, so both see the same configuration in
// the same environment. Nothing else reads the environment for backend settings.
package envconfig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

// Var is one environment variable a backend setting falls back to.
type Var struct {
	Name string
	// Attribute is the provider attribute it backs, as a dotted path ("docker.host").
	Attribute string
	// Meaning is one line for the documentation and -h.
	Meaning string
	// Sensitive values are never logged nor quoted in errors.
	Sensitive bool
}

// Backend is "docker" or "kubernetes": the first element of Attribute.
func (v Var) Backend() string { return strings.SplitN(v.Attribute, ".", 2)[0] }

// dockerVar binds a variable to the config.Docker field it fills.
type dockerVar struct {
	Var
	// isSet reports whether the configuration already has the setting (the variable is
	// then ignored). Variables of one group (TLS) share it, so the environment never
	// completes half of what the configuration gave.
	isSet func(c *config.Docker) bool
	apply func(c *config.Docker, v string) error
}

type kubernetesVar struct {
	Var
	isSet func(c *config.Kubernetes) bool
	apply func(c *config.Kubernetes, v string) error
}

func dockerTLSSet(c *config.Docker) bool {
	return c.CertPath != "" || c.CAMaterial != "" || c.CertMaterial != "" || c.KeyMaterial != ""
}

// registryAuth is the default login (no address, or Docker Hub), added when missing:
// DOCKER_USERNAME and DOCKER_PASSWORD complete it, never a login of another registry.
func registryAuth(c *config.Docker) *config.RegistryAuth {
	if d := c.RegistryAuth.Default(); d != nil {
		return d
	}
	c.RegistryAuth = append(c.RegistryAuth, config.RegistryAuth{})
	return &c.RegistryAuth[len(c.RegistryAuth)-1]
}

var dockerVars = []dockerVar{
	{Var{"DOCKER_HOST", "docker.host", "Docker daemon address (`unix://`, `tcp://`, `https://`)", false},
		func(c *config.Docker) bool { return c.Host != "" },
		func(c *config.Docker, v string) error { c.Host = v; return nil }},
	{Var{"DOCKER_NETWORK", "docker.network", "name prefix of the per-session networks", false},
		func(c *config.Docker) bool { return c.NetworkPrefix != "" },
		func(c *config.Docker, v string) error { c.NetworkPrefix = v; return nil }},
	{Var{"DOCKER_CERT_PATH", "docker.cert_path", "directory with `ca.pem`, `cert.pem` and `key.pem` of a TLS daemon", false},
		dockerTLSSet,
		func(c *config.Docker, v string) error { c.CertPath = ExpandHome(v); return nil }},
	{Var{"DOCKER_CA_MATERIAL", "docker.ca_material", "CA certificate of a TLS daemon (PEM, or base64 of PEM)", false},
		dockerTLSSet,
		func(c *config.Docker, v string) (err error) {
			c.CAMaterial, err = pemOrBase64("DOCKER_CA_MATERIAL", v)
			return err
		}},
	{Var{"DOCKER_CERT_MATERIAL", "docker.cert_material", "client certificate for a TLS daemon (PEM, or base64 of PEM)", false},
		dockerTLSSet,
		func(c *config.Docker, v string) (err error) {
			c.CertMaterial, err = pemOrBase64("DOCKER_CERT_MATERIAL", v)
			return err
		}},
	{Var{"DOCKER_KEY_MATERIAL", "docker.key_material", "client private key for a TLS daemon (PEM, or base64 of PEM)", true},
		dockerTLSSet,
		func(c *config.Docker, v string) (err error) {
			c.KeyMaterial, err = pemOrBase64("DOCKER_KEY_MATERIAL", v)
			return err
		}},
	{Var{"DOCKER_USERNAME", "docker.registry_auth.username", "registry user name", false},
		func(c *config.Docker) bool { d := c.RegistryAuth.Default(); return d != nil && d.Username != "" },
		func(c *config.Docker, v string) error { registryAuth(c).Username = v; return nil }},
	{Var{"DOCKER_PASSWORD", "docker.registry_auth.password", "registry password or token", true},
		func(c *config.Docker) bool { d := c.RegistryAuth.Default(); return d != nil && d.Password != "" },
		func(c *config.Docker, v string) error { registryAuth(c).Password = v; return nil }},
}

// envTLSVerify is Docker's switch for "TLS with the certificates of ~/.docker". It
// never turns verification off: the provider always verifies a TLS daemon.
const envTLSVerify = "DOCKER_TLS_VERIFY"

var kubernetesVars = []kubernetesVar{
	{Var{"KUBE_CONFIG_PATH", "kubernetes.config_path", "kubeconfig path(s), `:`-separated; read before `KUBECONFIG` (the hashicorp/kubernetes provider's name)", false},
		func(c *config.Kubernetes) bool { return c.ConfigPath != "" },
		func(c *config.Kubernetes, v string) error { c.ConfigPath = ExpandHome(v); return nil }},
	{Var{"KUBECONFIG", "kubernetes.config_path", "kubeconfig path(s), `:`-separated, merged like kubectl does", false},
		func(c *config.Kubernetes) bool { return c.ConfigPath != "" },
		func(c *config.Kubernetes, v string) error { c.ConfigPath = ExpandHome(v); return nil }},
	{Var{"K8S_CONTEXT", "kubernetes.context", "kubeconfig context", false},
		func(c *config.Kubernetes) bool { return c.Context != "" },
		func(c *config.Kubernetes, v string) error { c.Context = v; return nil }},
	{Var{"K8S_ENDPOINT", "kubernetes.host", "API server address (`https://host:port`); configures the backend without a kubeconfig", false},
		func(c *config.Kubernetes) bool { return c.Host != "" },
		func(c *config.Kubernetes, v string) error {
			if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
				return fmt.Errorf("K8S_ENDPOINT %q must be an http:// or https:// address", v)
			}
			c.Host = v
			return nil
		}},
	{Var{"K8S_TOKEN", "kubernetes.token", "bearer token", true},
		func(c *config.Kubernetes) bool { return c.Token != "" },
		func(c *config.Kubernetes, v string) error { c.Token = strings.TrimSpace(v); return nil }},
	{Var{"K8S_CLUSTER_CA_CERTIFICATE", "kubernetes.cluster_ca_certificate", "CA certificate of the API server (PEM, or base64 of PEM as in a kubeconfig's `certificate-authority-data`)", false},
		func(c *config.Kubernetes) bool { return c.ClusterCACertificate != "" },
		func(c *config.Kubernetes, v string) (err error) {
			c.ClusterCACertificate, err = pemOrBase64("K8S_CLUSTER_CA_CERTIFICATE", v)
			return err
		}},
	{Var{"K8S_INSECURE", "kubernetes.insecure", "`true` skips TLS verification of the API server (tests only)", false},
		func(c *config.Kubernetes) bool { return c.Insecure },
		func(c *config.Kubernetes, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("K8S_INSECURE %q: want true or false", v)
			}
			c.Insecure = b
			return nil
		}},
	{Var{"K8S_NAMESPACE", "kubernetes.namespace", "control namespace (templates, the reconciler's lease)", false},
		func(c *config.Kubernetes) bool { return c.Namespace != "" },
		func(c *config.Kubernetes, v string) error {
			if err := dnsLabel(v); err != "" {
				return fmt.Errorf("K8S_NAMESPACE %q: %s", v, err)
			}
			c.Namespace = v
			return nil
		}},
}

// Vars lists every variable, Docker's first, in the order they are read.
func Vars() []Var {
	out := make([]Var, 0, len(dockerVars)+len(kubernetesVars)+1)
	for _, v := range dockerVars {
		out = append(out, v.Var)
	}
	out = append(out, Var{envTLSVerify, "docker.cert_path", "non-empty: TLS with `~/.docker/{ca,cert,key}.pem` when no other TLS setting is given (never disables verification)", false})
	for _, v := range kubernetesVars {
		out = append(out, v.Var)
	}
	return out
}

// Docker fills the unset fields of c from the environment, then the defaults. used
// names the variables that were applied (names only: values may be secrets). Errors
// name the variable and never quote a sensitive value.
func Docker(c *config.Docker, getenv func(string) string) (used []string, err error) {
	var errs []error
	tlsFromConfig := dockerTLSSet(c)
	for _, v := range dockerVars {
		skip := v.isSet(c)
		if tlsFromEnv(v.Name) {
			skip = tlsFromConfig
		}
		val := getenv(v.Name)
		if val == "" || skip {
			continue
		}
		if err := v.apply(c, val); err != nil {
			errs = append(errs, err)
			continue
		}
		used = append(used, v.Name)
	}
	if !dockerTLSSet(c) && getenv(envTLSVerify) != "" {
		if home, err := os.UserHomeDir(); err == nil {
			c.CertPath = filepath.Join(home, ".docker")
			used = append(used, envTLSVerify)
		}
	}
	if !tlsFromConfig && c.CertPath != "" && (c.CAMaterial != "" || c.CertMaterial != "" || c.KeyMaterial != "") {
		errs = append(errs, errors.New("DOCKER_CERT_PATH and DOCKER_CA_MATERIAL/DOCKER_CERT_MATERIAL/DOCKER_KEY_MATERIAL are both set: use one or the other"))
	}
	if !tlsFromConfig && (c.CertMaterial == "") != (c.KeyMaterial == "") {
		errs = append(errs, errors.New("DOCKER_CERT_MATERIAL and DOCKER_KEY_MATERIAL must be set together"))
	}
	if d := c.RegistryAuth.Default(); d != nil && d.Username == "" {
		// A password alone is no login.
		c.RegistryAuth = slices.DeleteFunc(c.RegistryAuth, func(a config.RegistryAuth) bool { return a.IsDefault() })
		if len(c.RegistryAuth) == 0 {
			c.RegistryAuth = nil
		}
	}
	DockerDefaults(c)
	return used, errors.Join(errs...)
}

// tlsFromEnv names the TLS variables: they complete each other, but never a TLS
// setting of the configuration.
func tlsFromEnv(name string) bool {
	switch name {
	case "DOCKER_CERT_PATH", "DOCKER_CA_MATERIAL", "DOCKER_CERT_MATERIAL", "DOCKER_KEY_MATERIAL":
		return true
	}
	return false
}

// DockerDefaults fills the zero fields that have a default.
func DockerDefaults(c *config.Docker) {
	if c.Host == "" {
		c.Host = config.DefaultDockerHost
	}
	if c.NetworkPrefix == "" {
		c.NetworkPrefix = config.DefaultDockerNetworkPrefix
	}
	if c.BindAddress == "" {
		c.BindAddress = config.DefaultDockerBindAddress
	}
	if c.SubnetPool == "" {
		c.SubnetPool = config.DefaultDockerSubnetPool
	}
	if c.SubnetPrefixLength == 0 {
		c.SubnetPrefixLength = config.DefaultDockerSubnetPrefixLength
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = config.DefaultDockerPidsLimit
	}
}

// Kubernetes fills the unset fields of c from the environment. A caller whose
// configuration sets insecure explicitly (false included) hides K8S_INSECURE with
// Without. used names the variables that were applied.
func Kubernetes(c *config.Kubernetes, getenv func(string) string) (used []string, err error) {
	var errs []error
	caFromConfig := c.ClusterCACertificate != ""
	for _, v := range kubernetesVars {
		val := getenv(v.Name)
		if val == "" || v.isSet(c) {
			continue
		}
		if err := v.apply(c, val); err != nil {
			errs = append(errs, err)
			continue
		}
		used = append(used, v.Name)
	}
	if c.Insecure && c.ClusterCACertificate != "" && getenv("K8S_INSECURE") != "" {
		ca := "K8S_CLUSTER_CA_CERTIFICATE"
		if caFromConfig {
			ca = "kubernetes.cluster_ca_certificate"
		}
		errs = append(errs, fmt.Errorf("K8S_INSECURE=true and %s are both set: use one or the other", ca))
	}
	return used, errors.Join(errs...)
}

// KubernetesLocated reports whether the environment says where a cluster is (a
// kubeconfig or an API server address): the Kubernetes backend is then configured
// even without a kubernetes block.
func KubernetesLocated(getenv func(string) string) bool {
	return getenv("KUBE_CONFIG_PATH") != "" || getenv("KUBECONFIG") != "" || getenv("K8S_ENDPOINT") != ""
}

// Without returns getenv with the named variables hidden: for settings the
// configuration gives explicitly even when their value is the zero value.
func Without(getenv func(string) string, names ...string) func(string) string {
	return func(k string) string {
		for _, n := range names {
			if k == n {
				return ""
			}
		}
		return getenv(k)
	}
}

// FallbackNote is the sentence an attribute's description ends with: "Falls back to
// `A`, then `B`." ("" when no variable backs it).
func FallbackNote(attribute string) string {
	var names []string
	for _, v := range Vars() {
		if v.Attribute == attribute && v.Name != envTLSVerify {
			names = append(names, "`"+v.Name+"`")
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "Falls back to " + strings.Join(names, ", then ") + "."
}

// Names lists the variables of one backend ("docker" or "kubernetes").
func Names(backend string) []string {
	var out []string
	for _, v := range Vars() {
		if v.Backend() == backend {
			out = append(out, v.Name)
		}
	}
	return out
}

// pemOrBase64 accepts PEM text or base64 of it (HCP Terraform variables and
// kubeconfigs' *-data fields carry the latter). The value is never quoted: it may be a
// key.
func pemOrBase64(name, v string) (string, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "-----BEGIN ") {
		return v + "\n", nil
	}
	dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(v), ""))
	if err == nil && strings.HasPrefix(strings.TrimSpace(string(dec)), "-----BEGIN ") {
		return string(dec), nil
	}
	return "", fmt.Errorf("%s is neither PEM (-----BEGIN ...) nor base64 of PEM", name)
}

// ExpandHome expands a leading ~ in every element of a path list.
func ExpandHome(p string) string {
	if !strings.Contains(p, "~") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	parts := filepath.SplitList(p)
	for i, s := range parts {
		if s == "~" {
			parts[i] = home
		} else if strings.HasPrefix(s, "~/") {
			parts[i] = filepath.Join(home, s[2:])
		}
	}
	return strings.Join(parts, string(filepath.ListSeparator))
}

// MarkdownTable renders the variables as the Markdown table of the provider's
// documentation (templates/index.md.tmpl holds a copy; a test keeps them equal).
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Argument | Meaning |\n| --- | --- | --- |\n")
	for _, v := range Vars() {
		meaning := v.Meaning
		if v.Sensitive {
			meaning += " (secret)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", v.Name, v.Attribute, meaning)
	}
	return b.String()
}

// dnsLabel returns the first problem k8s.io/apimachinery's validation.IsDNS1123Label
// reports for v (the same words; a test compares them), or "". Spelled out here so
// that the provider, which reads this package, does not link klog and apimachinery's
// validation packages.
func dnsLabel(v string) string {
	switch {
	case len(v) > 63:
		return "must be no more than 63 characters"
	case dnsLabelRE.MatchString(v):
		return ""
	case dnsSubdomainRE.MatchString(v):
		return "must not contain dots"
	}
	return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and " +
		"end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '" + dnsLabelFmt + "')"
}

const dnsLabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"

var (
	dnsLabelRE     = regexp.MustCompile("^" + dnsLabelFmt + "$")
	dnsSubdomainRE = regexp.MustCompile("^" + dnsLabelFmt + "(\\." + dnsLabelFmt + ")*$")
)
