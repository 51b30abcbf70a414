// Package testregistry runs a real private registry for acceptance tests: the
// go-containerregistry in-memory registry behind HTTP basic auth and TLS with a CA
// generated for the test, on 127.0.0.1. Start makes dockerd trust the CA
// (/etc/docker/certs.d/<host>/ca.crt) and the test cluster's containerd too (a
// hosts.toml under CertsDir, the config_path scripts/testcluster-up.sh sets); Push
// puts a local Docker image into it. StartInNetns serves one inside a network namespace
// (the swarm test engines', which do not reach the host's loopback).
package testregistry

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// DockerCertsDir is where dockerd looks for a registry's CA (no restart needed).
const DockerCertsDir = "/etc/docker/certs.d"

// CertsDir is the test cluster's containerd registry config_path
// (scripts/testcluster-up.sh, TC_REGISTRY_CONFIG_DIR): one <host:port>/hosts.toml per
// registry, read per pull.
var CertsDir = func() string {
	if d := os.Getenv("TC_REGISTRY_CONFIG_DIR"); d != "" {
		return d
	}
	return "/etc/nalabo-testcluster/certs.d"
}()

// Registry is a running private registry.
type Registry struct {
	// Host is host:port, the address image references and registry_auth use.
	Host string
	// pushHost is where the test process reaches it (Host unless StartInNetns).
	pushHost string
	// Username and Password are the only login the registry accepts.
	Username, Password string
	// CAPEM is the certificate of the CA that signed the registry's.
	CAPEM []byte

	pool     *x509.CertPool
	refused  atomic.Int64
	accepted atomic.Int64
	plain    atomic.Int64
}

// Start runs a registry that accepts username:password only, until the test ends.
func Start(t testing.TB, username, password string) *Registry {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, username, password, nil, ln)
	r.Host = ln.Addr().String()
	r.pushHost = r.Host
	r.trust(t)
	return r
}

// StartInNetns runs a registry like Start for engines in the network namespace
// /run/netns/<ns> (the swarm nodes of scripts/swarm-up.sh): it listens on addr, an
// address of that namespace, port picked by the kernel, and Host is that address (its
// certificate names it). Only the engines reach it there; the test process pushes
// through a second listener on 127.0.0.1 (the same in-memory registry). The CA goes to
// /etc/docker/certs.d/<Host>/, read by every dockerd whose config directory is
// /etc/docker.
func StartInNetns(t testing.TB, username, password, ns string, addr netip.Addr) *Registry {
	t.Helper()
	inNS, err := acctest.ListenInNetns(ns, netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatalf("test registry in network namespace %s: %v", ns, err)
	}
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = inNS.Close()
		t.Fatal(err)
	}
	r := start(t, username, password, []net.IP{addr.AsSlice()}, inNS, local)
	r.Host = inNS.Addr().String()
	r.pushHost = local.Addr().String()
	r.trust(t)
	return r
}

// start serves one registry on the listeners (TLS and plain HTTP alike) until the test
// ends, with a certificate for 127.0.0.1 and ips; the caller sets the hosts.
func start(t testing.TB, username, password string, ips []net.IP, listeners ...net.Listener) *Registry {
	t.Helper()
	caPEM, cert, err := certificates(ips...)
	if err != nil {
		t.Fatal(err)
	}
	r := &Registry{Username: username, Password: password, CAPEM: caPEM, pool: x509.NewCertPool()}
	r.pool.AppendCertsFromPEM(caPEM)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := &http.Server{
		Handler:           r.basicAuth(reg),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	for _, l := range listeners {
		go func() { _ = srv.Serve(sniff(l, srv.TLSConfig)) }()
	}
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

// Refused and Accepted count the requests with a wrong or missing login and with the
// right one; Plain those that came without TLS.
func (r *Registry) Refused() int64  { return r.refused.Load() }
func (r *Registry) Accepted() int64 { return r.accepted.Load() }
func (r *Registry) Plain() int64    { return r.plain.Load() }

func (r *Registry) basicAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.TLS == nil {
			r.plain.Add(1)
		}
		u, p, ok := req.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(r.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(r.Password)) != 1 {
			r.refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="nalabo-test-registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		r.accepted.Add(1)
		next.ServeHTTP(w, req)
	})
}

// sniff serves TLS and plain HTTP on one listener (by the first byte a client sends):
// a containerd without a registry config_path pulls from a loopback registry over
// plain HTTP, one with it over TLS; Plain tells which happened.
func sniff(ln net.Listener, cfg *tls.Config) net.Listener {
	m := &muxListener{Listener: ln, conns: make(chan net.Conn)}
	go func() {
		defer close(m.conns)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				first, err := br.Peek(1)
				_ = c.SetReadDeadline(time.Time{})
				if err != nil {
					_ = c.Close()
					return
				}
				var out net.Conn = &peekedConn{Conn: c, r: br}
				if first[0] == 0x16 { // a TLS handshake record
					out = tls.Server(out, cfg)
				}
				m.conns <- out
			}()
		}
	}()
	return m
}

type muxListener struct {
	net.Listener
	conns chan net.Conn
}

func (m *muxListener) Accept() (net.Conn, error) {
	c, ok := <-m.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// ClusterTrustsRegistries reports whether the test cluster's containerd was started
// with the registry config_path (scripts/testcluster-up.sh), so that it pulls from a
// test registry over TLS with its CA.
func ClusterTrustsRegistries() bool {
	state := os.Getenv("TESTCLUSTER_STATE_DIR")
	if state == "" {
		state = "/var/lib/nalabo-testcluster"
	}
	b, err := os.ReadFile(filepath.Join(state, "config", "containerd.toml"))
	return err == nil && strings.Contains(string(b), "config_path = \""+CertsDir+"\"")
}

// trust writes the CA where dockerd and the test cluster's containerd look for it.
func (r *Registry) trust(t testing.TB) {
	t.Helper()
	docker := filepath.Join(DockerCertsDir, r.Host)
	cluster := filepath.Join(CertsDir, r.Host)
	hosts := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %q\n",
		"https://"+r.Host, "https://"+r.Host, filepath.Join(cluster, "ca.crt"))
	for path, content := range map[string][]byte{
		filepath.Join(docker, "ca.crt"):      r.CAPEM,
		filepath.Join(cluster, "ca.crt"):     r.CAPEM,
		filepath.Join(cluster, "hosts.toml"): []byte(hosts),
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("trust the test registry's CA: %v", err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatalf("trust the test registry's CA: %v", err)
		}
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(docker)
		_ = os.RemoveAll(cluster)
	})
}

// Transport is an HTTP transport that trusts the registry's CA.
func (r *Registry) Transport() http.RoundTripper {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool, MinVersion: tls.VersionTLS12}}
}

// Push copies the local Docker image src (docker save) to <Host>/<repo> and returns
// that reference (through the loopback listener of a StartInNetns registry).
func (r *Registry) Push(t testing.TB, docker *client.Client, src, repo string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	if err := save(ctx, docker, src, tarPath); err != nil {
		t.Fatalf("docker save %s: %v", src, err)
	}
	srcTag, err := name.NewTag(src)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarPath, &srcTag)
	if err != nil {
		t.Fatalf("read the saved image %s: %v", src, err)
	}
	dst := r.Host + "/" + repo
	ref, err := name.NewTag(r.pushHost + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	auth := &authn.Basic{Username: r.Username, Password: r.Password}
	if err := remote.Write(ref, img, remote.WithAuth(auth), remote.WithTransport(r.Transport()), remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", dst, err)
	}
	return dst
}

func save(ctx context.Context, docker *client.Client, src, path string) error {
	rc, err := docker.ImageSave(ctx, []string{src})
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// certificates makes a CA and a serving certificate for 127.0.0.1 (and ips) signed by it.
func certificates(ips ...net.IP) (caPEM []byte, serving tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, serving, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nalabo test registry CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, serving, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, serving, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, serving, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: append([]net.IP{net.IPv4(127, 0, 0, 1)}, ips...), DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, serving, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, serving, err
	}
	serving, err = tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, serving, errors.New("test registry: serving key pair: " + err.Error())
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), serving, nil
}
