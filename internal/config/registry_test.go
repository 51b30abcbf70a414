package config

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"": DockerHub, "docker.io": DockerHub, "index.docker.io": DockerHub, "registry-1.docker.io": DockerHub,
		"https://index.docker.io/v1/": DockerHub, "Registry.Example.com": "registry.example.com",
		"https://127.0.0.1:5443/v2/": "127.0.0.1:5443", "ghcr.io/org": "ghcr.io",
	} {
		if got := RegistryHost(in); got != want {
			t.Errorf("RegistryHost(%q) = %q, want %q", in, got, want)
		}
	}
	for ref, want := range map[string]string{"busybox": DockerHub, "library/busybox:1": DockerHub, "127.0.0.1:5443/x/y:1": "127.0.0.1:5443"} {
		if got, err := ImageRegistry(ref); err != nil || got != want {
			t.Errorf("ImageRegistry(%q) = %q %v, want %q", ref, got, err, want)
		}
	}
	if _, err := ImageRegistry("x:y:z::"); err == nil {
		t.Error("an invalid reference parses")
	}
}

func TestRegistryAuthsValidate(t *testing.T) {
	ok := RegistryAuths{{Username: "u", Password: "p"}, {Address: "r.example", Username: "u", Password: "p"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for want, as := range map[string]RegistryAuths{
		`"r.example" needs both`:    {{Address: "r.example", Username: "u"}},
		"same registry (docker.io)": {{Username: "u", Password: "s3cr3t"}, {Address: "index.docker.io", Username: "v", Password: "s3cr3t"}},
	} {
		err := as.Validate()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%+v: %v, want %q and no password", as, err, want)
		}
	}
}

func TestDockerConfigJSON(t *testing.T) {
	if b, err := RegistryAuths(nil).DockerConfigJSON(); b != nil || err != nil {
		t.Fatalf("no logins: %s %v", b, err)
	}
	b, err := RegistryAuths{{Username: "hub", Password: "p1"}, {Address: "https://127.0.0.1:5443/", Username: "ada", Password: "p:2"}}.DockerConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	hub, local := cfg.Auths[DockerHubAuthKey], cfg.Auths["127.0.0.1:5443"]
	if len(cfg.Auths) != 2 || hub.Username != "hub" || local.Password != "p:2" ||
		local.Auth != base64.StdEncoding.EncodeToString([]byte("ada:p:2")) {
		t.Fatalf("dockerconfigjson: %s", b)
	}
}

func TestIsRegistryAuthError(t *testing.T) {
	for _, msg := range []string{
		`pulling from host 127.0.0.1:5443 failed with status code [manifests 1]: 401 Unauthorized`,
		`Head "https://r/v2/x/manifests/1": unauthorized: authentication required`,
		`pull access denied for x, repository does not exist or may require 'docker login'`,
		`failed to authorize: failed to fetch anonymous token`,
	} {
		if !IsRegistryAuthError(msg) {
			t.Errorf("not an auth error: %s", msg)
		}
	}
	for _, msg := range []string{
		`manifest unknown`, `dial tcp 127.0.0.1:5443: connect: connection refused`,
		`image "r/x@sha256:ab401cd" not found`,
	} {
		if IsRegistryAuthError(msg) {
			t.Errorf("an auth error: %s", msg)
		}
	}
}
