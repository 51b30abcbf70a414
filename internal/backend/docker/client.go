package docker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
)

// newClient builds the Engine API client. It does not dial: the first request does
// (and negotiates the API version).
func newClient(s settings) (*client.Client, error) {
	httpClient, err := newHTTPClient(s.Config)
	if err != nil {
		return nil, err
	}
	opts := []client.Opt{
		// The HTTP client first: WithHost configures its transport for the socket.
		client.WithHTTPClient(httpClient),
		client.WithHost(s.Host),
		client.WithAPIVersionNegotiation(),
	}
	if s.CertPath != "" {
		opts = append(opts, client.WithTLSClientConfig(
			filepath.Join(s.CertPath, "ca.pem"),
			filepath.Join(s.CertPath, "cert.pem"),
			filepath.Join(s.CertPath, "key.pem"),
		))
	}
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", s.Host, err)
	}
	return c, nil
}

// newHTTPClient returns the HTTP client the Engine API client uses. It keeps more idle
// connections than the library's default (6): Terraform runs tens of creates at once,
// and reopening a socket for each request costs time.
func newHTTPClient(c Config) (*http.Client, error) {
	transport := &http.Transport{
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	if c.CAMaterial != "" || c.CertMaterial != "" {
		tlsConfig, err := tlsFromPEM(c.CAMaterial, c.CertMaterial, c.KeyMaterial)
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig = tlsConfig
	}
	return &http.Client{Transport: transport, CheckRedirect: client.CheckRedirect}, nil
}

// tlsFromPEM builds a TLS configuration from PEM contents. Errors never quote the key.
func tlsFromPEM(ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca)) {
			return nil, errors.New("TLS: the CA material holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if cert != "" {
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return nil, errors.New("TLS: the certificate and key materials are not a matching PEM pair")
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// RegistryAuthFor returns the encoded X-Registry-Auth header for pulling ref, or "" when
// no login applies to its registry: the login of ref's registry, else the one without
// address. The password never appears in errors. The Swarm backend uses it too.
func RegistryAuthFor(as RegistryAuths, ref string) (string, *RegistryAuth, error) {
	a := as.For(ref, true)
	if a == nil {
		return "", nil, nil
	}
	enc, err := registry.EncodeAuthConfig(authConfig(*a))
	if err != nil {
		return "", nil, errors.New("encode registry auth: invalid login")
	}
	return enc, a, nil
}

// authConfig is a login as the Engine API takes it.
func authConfig(a RegistryAuth) registry.AuthConfig {
	return registry.AuthConfig{Username: a.Username, Password: a.Password, ServerAddress: a.Address}
}

// isNotFound reports a 404 from the daemon.
func isNotFound(err error) bool { return err != nil && cerrdefs.IsNotFound(err) }

// isConflict reports a 409 from the daemon (in use, already exists).
func isConflict(err error) bool { return err != nil && cerrdefs.IsConflict(err) }

// ignoreNotFound turns a 404 into success: two reconcilers may race to delete.
func ignoreNotFound(err error) error {
	if isNotFound(err) {
		return nil
	}
	return err
}
