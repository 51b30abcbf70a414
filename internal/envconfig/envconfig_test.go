package envconfig

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const (
	caPEM   = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"
	certPEM = "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n"
	keyPEM  = "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDockerFill(t *testing.T) {
	t.Setenv("HOME", "/home/ada")
	// Nothing set: the defaults.
	var c config.Docker
	used, err := Docker(&c, env(nil))
	if err != nil || len(used) != 0 {
		t.Fatalf("empty environment: used %v, err %v", used, err)
	}
	if c.Host != config.DefaultDockerHost || c.NetworkPrefix != config.DefaultDockerNetworkPrefix || c.BindAddress != config.DefaultDockerBindAddress ||
		c.SubnetPool != config.DefaultDockerSubnetPool || c.SubnetPrefixLength != config.DefaultDockerSubnetPrefixLength ||
		c.PidsLimit != config.DefaultDockerPidsLimit || c.RegistryAuth != nil || c.CertPath != "" {
		t.Fatalf("defaults: %+v", c)
	}

	// Every variable; materials as PEM and as base64 of PEM.
	full := map[string]string{
		"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_NETWORK": "class-a",
		"DOCKER_CA_MATERIAL": caPEM, "DOCKER_CERT_MATERIAL": b64(certPEM), "DOCKER_KEY_MATERIAL": " " + keyPEM,
		"DOCKER_USERNAME": "ada", "DOCKER_PASSWORD": "s3cret",
	}
	c = config.Docker{}
	used, err = Docker(&c, env(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "tcp://127.0.0.1:2376" || c.NetworkPrefix != "class-a" || c.CAMaterial != caPEM || c.CertMaterial != certPEM ||
		c.KeyMaterial != keyPEM || len(c.RegistryAuth) != 1 || c.RegistryAuth[0] != (config.RegistryAuth{Username: "ada", Password: "s3cret"}) {
		t.Fatalf("from the environment: %+v", c)
	}
	if len(used) != 7 {
		t.Fatalf("used = %v, want the 7 variables", used)
	}

	// The configuration wins, and the TLS variables never complete its TLS settings.
	// The variables complete the default login (Docker Hub's), never another registry's.
	c = config.Docker{Host: "unix:///run/other.sock", CertPath: "/certs", RegistryAuth: config.RegistryAuths{
		{Address: "registry.example.com", Username: "eve"}, {Address: "index.docker.io", Username: "bob"},
	}}
	if _, err = Docker(&c, env(full)); err != nil {
		t.Fatal(err)
	}
	if c.Host != "unix:///run/other.sock" || c.CertPath != "/certs" || c.CAMaterial != "" || c.KeyMaterial != "" ||
		len(c.RegistryAuth) != 2 || c.RegistryAuth[0].Password != "" ||
		c.RegistryAuth[1].Username != "bob" || c.RegistryAuth[1].Password != "s3cret" || c.NetworkPrefix != "class-a" {
		t.Fatalf("configuration first: %+v", c)
	}
	// Logins of other registries only: the variables add the default one.
	c = config.Docker{RegistryAuth: config.RegistryAuths{{Address: "registry.example.com", Username: "eve", Password: "x"}}}
	if _, err = Docker(&c, env(full)); err != nil {
		t.Fatal(err)
	}
	if len(c.RegistryAuth) != 2 || c.RegistryAuth[1] != (config.RegistryAuth{Username: "ada", Password: "s3cret"}) {
		t.Fatalf("default login added: %+v", c.RegistryAuth)
	}

	// DOCKER_CERT_PATH (with ~), and DOCKER_TLS_VERIFY alone means ~/.docker.
	c = config.Docker{}
	if _, err = Docker(&c, env(map[string]string{"DOCKER_CERT_PATH": "~/certs", "DOCKER_TLS_VERIFY": "1"})); err != nil || c.CertPath != "/home/ada/certs" {
		t.Fatalf("DOCKER_CERT_PATH: %q %v", c.CertPath, err)
	}
	c = config.Docker{}
	if _, err = Docker(&c, env(map[string]string{"DOCKER_TLS_VERIFY": "1"})); err != nil || c.CertPath != filepath.Join("/home/ada", ".docker") {
		t.Fatalf("DOCKER_TLS_VERIFY: %q %v", c.CertPath, err)
	}
	// A password alone is no login.
	c = config.Docker{}
	if _, err = Docker(&c, env(map[string]string{"DOCKER_PASSWORD": "x"})); err != nil || c.RegistryAuth != nil {
		t.Fatalf("DOCKER_PASSWORD alone: %+v %v", c.RegistryAuth, err)
	}
}

func TestDockerErrorsNameTheVariable(t *testing.T) {
	const secret = "not-a-key-but-a-secret"
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DOCKER_CERT_PATH": "/certs", "DOCKER_CA_MATERIAL": caPEM}, "DOCKER_CERT_PATH and DOCKER_CA_MATERIAL"},
		{map[string]string{"DOCKER_CERT_MATERIAL": certPEM}, "DOCKER_CERT_MATERIAL and DOCKER_KEY_MATERIAL must be set together"},
		{map[string]string{"DOCKER_CERT_MATERIAL": certPEM, "DOCKER_KEY_MATERIAL": secret}, "DOCKER_KEY_MATERIAL is neither PEM"},
		{map[string]string{"DOCKER_CA_MATERIAL": "bm90IHBlbQ=="}, "DOCKER_CA_MATERIAL is neither PEM"},
	} {
		var c config.Docker
		_, err := Docker(&c, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want an error containing %q, got %v", tc.env, tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes the key: %v", err)
		}
	}
}

func TestKubernetesFill(t *testing.T) {
	t.Setenv("HOME", "/home/ada")
	var c config.Kubernetes
	used, err := Kubernetes(&c, env(map[string]string{
		"K8S_ENDPOINT": "https://10.0.0.1:6443", "K8S_TOKEN": "tok\n", "K8S_CLUSTER_CA_CERTIFICATE": b64(caPEM),
		"K8S_NAMESPACE": "control", "K8S_CONTEXT": "prod", "KUBECONFIG": "~/a:/b", "K8S_INSECURE": "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "https://10.0.0.1:6443" || c.Token != "tok" || c.ClusterCACertificate != caPEM || c.Namespace != "control" ||
		c.Context != "prod" || c.ConfigPath != "/home/ada/a:/b" || c.Insecure {
		t.Fatalf("from the environment: %+v", c)
	}
	if strings.Join(used, ",") != "KUBECONFIG,K8S_CONTEXT,K8S_ENDPOINT,K8S_TOKEN,K8S_CLUSTER_CA_CERTIFICATE,K8S_INSECURE,K8S_NAMESPACE" {
		t.Fatalf("used = %v", used)
	}
	// KUBE_CONFIG_PATH before KUBECONFIG; the configuration before both.
	c = config.Kubernetes{}
	_, _ = Kubernetes(&c, env(map[string]string{"KUBE_CONFIG_PATH": "/tf", "KUBECONFIG": "/kubectl"}))
	if c.ConfigPath != "/tf" {
		t.Fatalf("KUBE_CONFIG_PATH: %q", c.ConfigPath)
	}
	c = config.Kubernetes{ConfigPath: "/mine", Token: "mine"}
	_, _ = Kubernetes(&c, env(map[string]string{"KUBE_CONFIG_PATH": "/tf", "K8S_TOKEN": "theirs"}))
	if c.ConfigPath != "/mine" || c.Token != "mine" {
		t.Fatalf("configuration first: %+v", c)
	}
	// An explicit insecure = false hides K8S_INSECURE.
	c = config.Kubernetes{}
	_, _ = Kubernetes(&c, Without(env(map[string]string{"K8S_INSECURE": "true"}), "K8S_INSECURE"))
	if c.Insecure {
		t.Fatal("Without did not hide K8S_INSECURE")
	}
	if !KubernetesLocated(env(map[string]string{"K8S_ENDPOINT": "https://x"})) || KubernetesLocated(env(map[string]string{"K8S_TOKEN": "t"})) {
		t.Fatal("KubernetesLocated")
	}
}

func TestKubernetesErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"K8S_INSECURE": "maybe"}, "K8S_INSECURE"},
		{map[string]string{"K8S_ENDPOINT": "10.0.0.1:6443"}, "K8S_ENDPOINT"},
		{map[string]string{"K8S_CLUSTER_CA_CERTIFICATE": "garbage"}, "K8S_CLUSTER_CA_CERTIFICATE is neither PEM"},
		{map[string]string{"K8S_NAMESPACE": "Not_A_Label"}, "K8S_NAMESPACE"},
		{map[string]string{"K8S_INSECURE": "true", "K8S_CLUSTER_CA_CERTIFICATE": caPEM}, "K8S_INSECURE=true and K8S_CLUSTER_CA_CERTIFICATE"},
	} {
		var c config.Kubernetes
		_, err := Kubernetes(&c, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want an error containing %q, got %v", tc.env, tc.want, err)
		}
	}
}

func TestTable(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Vars() {
		if seen[v.Name] {
			t.Errorf("%s twice", v.Name)
		}
		seen[v.Name] = true
		if v.Meaning == "" || (v.Backend() != "docker" && v.Backend() != "kubernetes") {
			t.Errorf("%s: %+v", v.Name, v)
		}
		if strings.Contains(v.Name, "TOKEN") || strings.Contains(v.Name, "PASSWORD") || strings.Contains(v.Name, "KEY") {
			if !v.Sensitive {
				t.Errorf("%s must be sensitive", v.Name)
			}
		}
	}
	if got := FallbackNote("kubernetes.config_path"); got != "Falls back to `KUBE_CONFIG_PATH`, then `KUBECONFIG`." {
		t.Errorf("FallbackNote = %q", got)
	}
	if FallbackNote("docker.bind_address") != "" {
		t.Error("bind_address has no variable")
	}
}

// dnsLabel says what apimachinery's IsDNS1123Label says (its first problem).
func TestDNSLabelMatchesApimachinery(t *testing.T) {
	for _, v := range []string{"nalabo", "a", "a-1", "1a", "-a", "a-", "A", "a.b", "a_b", "", "a..b", ".a",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("A", 64), "ümlaut"} {
		want := ""
		if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
			want = errs[0]
		}
		if got := dnsLabel(v); got != want {
			t.Errorf("dnsLabel(%q) = %q, want %q", v, got, want)
		}
	}
}
