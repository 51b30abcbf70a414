package config

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"
)

// RegistryAuth is a registry login. Password is a secret: never log it.
type RegistryAuth struct {
	// Address is the registry host[:port] (a scheme or path is ignored). Empty means
	// the default login: Docker Hub, and on Docker every registry that has no login of
	// its own (DOCKER_USERNAME and DOCKER_PASSWORD fill it).
	Address  string
	Username string
	Password string
}

// RegistryAuths are the logins of a backend, at most one per registry.
type RegistryAuths []RegistryAuth

// DockerHub is the registry key of Docker Hub, whatever alias names it.
const DockerHub = "docker.io"

// DockerHubAuthKey is the key Docker's config.json (and a kubernetes.io/dockerconfigjson
// Secret) uses for Docker Hub.
const DockerHubAuthKey = "https://index.docker.io/v1/"

// RegistryPullSecretName names the kubernetes.io/dockerconfigjson Secret holding the
// Kubernetes backend's registry logins in each namespace that pulls with them.
const RegistryPullSecretName = "nalabo-registry"

// RegistryHost normalises a registry address to its lower-case host[:port]: the
// scheme and path are dropped, and Docker Hub's aliases ("docker.io",
// "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com", its v1 URL)
// become DockerHub. An empty address is DockerHub.
func RegistryHost(addr string) string {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
	addr = strings.ToLower(strings.SplitN(addr, "/", 2)[0])
	switch addr {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return DockerHub
	}
	return addr
}

// ImageRegistry is the registry host of an image reference ("busybox" is DockerHub).
func ImageRegistry(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	return RegistryHost(reference.Domain(named)), nil
}

// IsDefault reports whether a is the default login (no address, or Docker Hub).
func (a RegistryAuth) IsDefault() bool { return RegistryHost(a.Address) == DockerHub }

// Default is the default login, nil when there is none.
func (as RegistryAuths) Default() *RegistryAuth {
	for i := range as {
		if as[i].IsDefault() {
			return &as[i]
		}
	}
	return nil
}

// For picks the login for an image reference: the one whose address is the image's
// registry; else, when fallback is true, a login without address (Docker's historic
// "one login for every pull"). nil when none applies or ref does not parse.
func (as RegistryAuths) For(ref string, fallback bool) *RegistryAuth {
	host, err := ImageRegistry(ref)
	if err != nil {
		return nil
	}
	var anyRegistry *RegistryAuth
	for i := range as {
		a := &as[i]
		if a.Username == "" {
			continue
		}
		if RegistryHost(a.Address) == host {
			return a
		}
		if strings.TrimSpace(a.Address) == "" {
			anyRegistry = a
		}
	}
	if fallback {
		return anyRegistry
	}
	return nil
}

// Validate checks that every login has a user name and a password and that no two
// name the same registry. Errors name the addresses, never a password.
func (as RegistryAuths) Validate() error {
	var errs []error
	seen := map[string]string{}
	for _, a := range as {
		host := RegistryHost(a.Address)
		if a.Username == "" || a.Password == "" {
			errs = append(errs, fmt.Errorf("registry_auth %q needs both a username and a password", displayAddress(a.Address)))
		}
		if prev, dup := seen[host]; dup {
			errs = append(errs, fmt.Errorf("registry_auth: %q and %q are the same registry (%s); give each registry one login", displayAddress(prev), displayAddress(a.Address), host))
		}
		seen[host] = a.Address
	}
	return errors.Join(errs...)
}

func displayAddress(addr string) string {
	if strings.TrimSpace(addr) == "" {
		return "(default: Docker Hub)"
	}
	return addr
}

// AuthKey is the key of a in a Docker config.json "auths" map: host[:port], or
// DockerHubAuthKey for Docker Hub.
func (a RegistryAuth) AuthKey() string {
	if a.IsDefault() {
		return DockerHubAuthKey
	}
	return RegistryHost(a.Address)
}

// DockerConfigJSON is the content of a kubernetes.io/dockerconfigjson Secret holding
// every login (nil when there is none). It holds the passwords: store it only in a Secret.
func (as RegistryAuths) DockerConfigJSON() ([]byte, error) {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	auths := map[string]entry{}
	for _, a := range as {
		if a.Username == "" {
			continue
		}
		auths[a.AuthKey()] = entry{a.Username, a.Password, base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password))}
	}
	if len(auths) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return nil, errors.New("encode registry logins: invalid login")
	}
	return b, nil
}

// registryAuthErrorRE matches what Docker, containerd and the kubelet say when a
// registry refuses or requires a login (401 as a word: never inside a digest).
var registryAuthErrorRE = regexp.MustCompile(`(?i)unauthorized|authentication required|\b401\b|no basic auth credentials|pull access denied|authorization failed|failed to authorize`)

// IsRegistryAuthError reports whether a pull error (Docker's, or a kubelet's event
// message) says the registry refused or required a login.
func IsRegistryAuthError(msg string) bool { return registryAuthErrorRE.MatchString(msg) }
