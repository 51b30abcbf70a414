package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// testPKI is a throw-away CA with a server certificate for 127.0.0.1 and a client
// certificate, all PEM.
type testPKI struct {
	caPEM, serverCertPEM, serverKeyPEM, clientCertPEM, clientKeyPEM []byte
	pool                                                            *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	key := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	caKey, _ := key()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nalabo test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage, ip net.IP) ([]byte, []byte) {
		k, keyPEM := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: fmt.Sprintf("leaf %d", serial)},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if ip != nil {
			tmpl.IPAddresses = []net.IP{ip}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM
	}
	p := testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	p.serverCertPEM, p.serverKeyPEM = leaf(2, x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	p.clientCertPEM, p.clientKeyPEM = leaf(3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

// startTLSDockerProxy serves the local Docker socket on a loopback TLS port that
// requires a client certificate of the test CA: a TLS daemon without a second dockerd.
// It returns the address and the number of connections that completed the handshake.
func startTLSDockerProxy(t *testing.T, pki testPKI, socket string) (string, *atomic.Int64) {
	t.Helper()
	cert, err := tls.X509KeyPair(pki.serverCertPEM, pki.serverKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pki.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	var handshakes atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc, ok := c.(*tls.Conn)
				if !ok {
					return
				}
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() != nil {
					return
				}
				_ = tc.SetDeadline(time.Time{})
				handshakes.Add(1)
				up, err := net.Dial("unix", socket)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, tc); done <- struct{}{} }()
				go func() { _, _ = io.Copy(tc, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return ln.Addr().String(), &handshakes
}

// TestAccDockerTLSFromEnvironment: no docker block; DOCKER_HOST names a TLS endpoint
// and DOCKER_CA_MATERIAL, DOCKER_CERT_MATERIAL, DOCKER_KEY_MATERIAL (the key as base64)
// carry the PEM material. A session is created and destroyed through it. Controls: the
// endpoint refuses a client without a certificate, and a wrong CA fails the plan.
// Not parallel: it sets the process environment the in-process provider reads.
func TestAccDockerTLSFromEnvironment(t *testing.T) {
	testAccSetup(t)
	acctest.PreCheck(t) // the helpers' Docker client keeps the local socket from here on
	pki := newTestPKI(t)
	addr, handshakes := startTLSDockerProxy(t, pki, "/var/run/docker.sock")

	// Control: without a client certificate the endpoint answers nothing.
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	if resp, err := plain.Get("https://" + addr + "/_ping"); err == nil {
		resp.Body.Close()
		t.Fatalf("the TLS endpoint answered a client without a certificate: %s", resp.Status)
	}

	other := newTestPKI(t)
	for _, v := range []string{"DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_NETWORK"} {
		t.Setenv(v, "")
	}
	t.Setenv("DOCKER_HOST", "tcp://"+addr)
	t.Setenv("DOCKER_CERT_MATERIAL", string(pki.clientCertPEM))
	t.Setenv("DOCKER_KEY_MATERIAL", base64.StdEncoding.EncodeToString(pki.clientKeyPEM))
	t.Setenv("DOCKER_CA_MATERIAL", string(other.caPEM))

	name := acctest.RandName("tls-env")
	participant := acctest.RandName("ada")
	cfg := `
provider "nalabo" {}
` + dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, participant)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				// Another CA: the daemon's certificate is not trusted.
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)Cannot reach the Docker engine.*from\s+the\s+environment:.*DOCKER_CA_MATERIAL.*(certificate signed by unknown authority|x509)`),
			},
			{
				PreConfig: func() { t.Setenv("DOCKER_CA_MATERIAL", string(pki.caPEM)) },
				Config:    cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", "running"),
					func(*terraform.State) error {
						if n := handshakes.Load(); n == 0 {
							return fmt.Errorf("no connection went through the TLS endpoint")
						}
						if c := acctest.CountLabelled(t, "nalabo.io/participant="+participant); c.Containers != 1 {
							return fmt.Errorf("containers of %s: %s", participant, c)
						}
						return nil
					},
				),
			},
		},
	})
	t.Logf("%d TLS connections through the test endpoint", handshakes.Load())
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("endpoint %s is not on loopback", addr)
	}
}
