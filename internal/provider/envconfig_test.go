package provider

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"

	"github.com/nalabo/terraform-provider-nalabo/internal/envconfig"
	"github.com/nalabo/terraform-provider-nalabo/internal/reconciler"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestProviderAndReconcilerReadTheSameEnvironment: without a docker or kubernetes
// block, the provider's configure and the reconciler's ParseArgs turn one environment
// into the same backend configurations.
func TestProviderAndReconcilerReadTheSameEnvironment(t *testing.T) {
	t.Setenv("HOME", "/home/ada")
	const ca = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"
	const key = "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name string
		env  map[string]string
		k8s  bool
	}{
		{"defaults", nil, false},
		{"docker host and network", map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_NETWORK": "class-a"}, false},
		{"docker cert path", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_CERT_PATH": "~/certs"}, false},
		{"docker TLS verify", map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1"}, false},
		{"docker TLS material", map[string]string{"DOCKER_HOST": "tcp://h:2376",
			"DOCKER_CA_MATERIAL": ca, "DOCKER_CERT_MATERIAL": b64(ca), "DOCKER_KEY_MATERIAL": b64(key)}, false},
		{"registry login", map[string]string{"DOCKER_USERNAME": "ada", "DOCKER_PASSWORD": "s3cret"}, false},
		{"kubernetes endpoint", map[string]string{"K8S_ENDPOINT": "https://10.0.0.1:6443", "K8S_TOKEN": "tok",
			"K8S_CLUSTER_CA_CERTIFICATE": b64(ca), "K8S_NAMESPACE": "control"}, true},
		{"kubernetes insecure", map[string]string{"K8S_ENDPOINT": "https://10.0.0.1:6443", "K8S_TOKEN": "tok", "K8S_INSECURE": "true"}, true},
		{"kubeconfig list and context", map[string]string{"KUBECONFIG": "~/.kube/a:/etc/b", "K8S_CONTEXT": "prod"}, true},
		{"KUBE_CONFIG_PATH first", map[string]string{"KUBE_CONFIG_PATH": "/tf/kubeconfig", "KUBECONFIG": "/other"}, true},
		{"both backends", map[string]string{"DOCKER_HOST": "unix:///run/d.sock", "K8S_ENDPOINT": "https://k:6443", "K8S_TOKEN": "tok"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := mapEnv(tc.env)
			var diags diag.Diagnostics
			dockerCfg, known, _, err := dockerConfigFrom(nil, getenv)
			if err != nil || !known {
				t.Fatalf("provider docker: known %v, %v", known, err)
			}
			k8sCfg, configured, known, _ := kubernetesConfigFrom(nil, getenv, &diags)
			if diags.HasError() || !known || configured != tc.k8s {
				t.Fatalf("provider kubernetes: configured %v (want %v), known %v, %v", configured, tc.k8s, known, diags)
			}
			args := []string{"--backend", "docker"}
			if tc.k8s {
				args = []string{"--backend", "docker,kubernetes"}
			}
			rc, err := reconciler.ParseArgs(args, getenv, io.Discard)
			if err != nil {
				t.Fatalf("reconciler: %v", err)
			}
			if !reflect.DeepEqual(dockerCfg, rc.Docker) {
				t.Errorf("docker configurations differ:\nprovider   %+v\nreconciler %+v", dockerCfg, rc.Docker)
			}
			if tc.k8s && !reflect.DeepEqual(k8sCfg, rc.Kubernetes) {
				t.Errorf("kubernetes configurations differ:\nprovider   %+v\nreconciler %+v", k8sCfg, rc.Kubernetes)
			}
		})
	}
	// Positive control: the comparison sees a difference when there is one.
	a, _, _, _ := dockerConfigFrom(nil, mapEnv(map[string]string{"DOCKER_NETWORK": "x"}))
	b, _, _, _ := dockerConfigFrom(nil, mapEnv(nil))
	if reflect.DeepEqual(a, b) {
		t.Fatal("DOCKER_NETWORK changed nothing")
	}
}

// TestProviderEnvironmentErrors: a bad variable is a configure error naming it.
func TestProviderEnvironmentErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"bad CA":        {map[string]string{"K8S_ENDPOINT": "https://k:6443", "K8S_CLUSTER_CA_CERTIFICATE": "zzz"}, "K8S_CLUSTER_CA_CERTIFICATE"},
		"bad insecure":  {map[string]string{"K8S_ENDPOINT": "https://k:6443", "K8S_INSECURE": "yes please"}, "K8S_INSECURE"},
		"half a client": {map[string]string{"DOCKER_CERT_MATERIAL": "-----BEGIN CERTIFICATE-----\n"}, "DOCKER_KEY_MATERIAL"},
	} {
		p := &nalaboProvider{version: "test", getenv: mapEnv(tc.env)}
		req := provider.ConfigureRequest{Config: providerConfig(t, p, nil)}
		resp := &provider.ConfigureResponse{}
		p.Configure(context.Background(), req, resp)
		if !resp.Diagnostics.HasError() || !strings.Contains(resp.Diagnostics[0].Detail(), tc.want) {
			t.Errorf("%s: want an error naming %s, got %v", name, tc.want, resp.Diagnostics)
		}
	}
}

// TestEnvironmentVariablesDocumented: every variable of the table is named in the
// description of the attribute it backs, in the provider's documentation template
// and in the README.
func TestEnvironmentVariablesDocumented(t *testing.T) {
	var sr provider.SchemaResponse
	newTestProvider().Schema(context.Background(), provider.SchemaRequest{}, &sr)
	tmpl, err := os.ReadFile("../../templates/index.md.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tmpl), envconfig.MarkdownTable()) {
		t.Errorf("templates/index.md.tmpl does not hold the table of envconfig.MarkdownTable():\n%s", envconfig.MarkdownTable())
	}
	for _, v := range envconfig.Vars() {
		desc, ok := attributeDescription(sr.Schema, v.Attribute)
		if !ok {
			t.Errorf("%s: no provider attribute %s", v.Name, v.Attribute)
		} else if !strings.Contains(desc, "`"+v.Name+"`") {
			t.Errorf("the description of %s does not name `%s`: %s", v.Attribute, v.Name, desc)
		}
		if !strings.Contains(string(readme), "`"+v.Name+"`") {
			t.Errorf("README.md does not list `%s`", v.Name)
		}
	}
}

// attributeDescription finds a provider attribute by its dotted path through blocks.
func attributeDescription(s schema.Schema, dotted string) (string, bool) {
	parts := strings.Split(dotted, ".")
	blocks := s.Blocks
	var attrs map[string]schema.Attribute
	for i, p := range parts {
		if i == len(parts)-1 {
			a, ok := attrs[p]
			if !ok {
				return "", false
			}
			return a.GetMarkdownDescription(), true
		}
		switch b := blocks[p].(type) {
		case schema.SingleNestedBlock:
			attrs, blocks = b.Attributes, b.Blocks
		case schema.ListNestedBlock: // registry_auth: its elements' attributes
			attrs, blocks = b.NestedObject.Attributes, b.NestedObject.Blocks
		default:
			return "", false
		}
	}
	return "", false
}
