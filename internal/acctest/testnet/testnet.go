// Package testnet gives tests hosts of their own to send packets to: a network namespace
// the test creates, joined to the host by a veth pair, holding TEST-NET-3 addresses
// (203.0.113.0/24, RFC 5737: never routed on the internet) with an HTTP listener on each
// (busybox httpd on :8080). Traffic from containers and pods is routed (and masqueraded)
// to them by the host like traffic to any outside address, so egress rules apply to it.
// Needs root, iproute2 and busybox. Test support only.
//
// Addresses in use (tests of different packages run at the same time, so each picks its
// own): Kubernetes backend tests 203.0.113.129-.131 (namespace isolation) and .133-.135
// (vCluster), provider acceptance tests .137-.139.
package testnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Port is where every listener answers.
const Port = 8080

// Net is a network namespace with listeners.
type Net struct {
	Name  string   // the network namespace
	Host  string   // the host end's address
	Addrs []string // the listeners' addresses
}

// Body is what the listener on addr serves at /.
func Body(addr string) string { return "nalabo-testnet " + addr }

// Start creates the namespace, the veth pair (host end hostAddr/32, a /32 route to each
// of addrs), one listener per address, and waits until the host reaches each of them.
// Everything is removed by t.Cleanup, also when the test fails.
func Start(t testing.TB, hostAddr string, addrs ...string) *Net {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("testnet: needs root (network namespaces, veth, routes)")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("testnet: busybox is not installed (apt-get install busybox-static)")
	}
	for _, a := range append([]string{hostAddr}, addrs...) {
		if ip := net.ParseIP(a); ip == nil || ip.To4() == nil || !strings.HasPrefix(a, "203.0.113.") {
			t.Fatalf("testnet: %q is not a TEST-NET-3 address (203.0.113.0/24)", a)
		}
		if out, _ := exec.Command("ip", "-o", "addr", "show", "to", a+"/32").Output(); len(out) > 0 {
			t.Fatalf("testnet: %s is already assigned on this host: %s", a, out)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sfx := hex.EncodeToString(b)
	n := &Net{Name: "nlbt-" + sfx, Host: hostAddr, Addrs: addrs}
	vh, vn := "nlbh"+sfx, "nlbn"+sfx
	dir := t.TempDir()

	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("testnet: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", n.Name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", n.Name).Run() })
	run("link", "add", vh, "type", "veth", "peer", "name", vn, "netns", n.Name)
	// The pair and its routes, now (a deleted namespace's links go later, asynchronously).
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", vh).Run() })
	run("addr", "add", hostAddr+"/32", "dev", vh)
	run("link", "set", vh, "up")
	run("-n", n.Name, "link", "set", "lo", "up")
	run("-n", n.Name, "link", "set", vn, "up")
	run("-n", n.Name, "route", "add", hostAddr+"/32", "dev", vn)
	run("-n", n.Name, "route", "add", "default", "via", hostAddr, "dev", vn)
	for _, a := range addrs {
		run("-n", n.Name, "addr", "add", a+"/32", "dev", vn)
		run("route", "add", a+"/32", "dev", vh, "src", hostAddr)

		root := filepath.Join(dir, a)
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(Body(a)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("ip", "netns", "exec", n.Name, busybox, "httpd", "-f", "-p", fmt.Sprintf("%s:%d", a, Port), "-h", root)
		if err := cmd.Start(); err != nil {
			t.Fatalf("testnet: listener on %s: %v", a, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	for _, a := range addrs {
		if err := waitServing(a); err != nil {
			t.Fatalf("testnet: the host does not reach the listener on %s: %v", a, err)
		}
	}
	return n
}

// waitServing polls http://addr:Port/ from the host until it serves Body(addr).
func waitServing(addr string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		resp, err := c.Get(fmt.Sprintf("http://%s:%d/", addr, Port))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if strings.Contains(string(body), Body(addr)) {
				return nil
			}
			err = fmt.Errorf("unexpected answer %q", body)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

// Probe is a shell command (busybox nc; busybox wget crashes on this kind of static
// build) that fetches http://addr:port/path with a 3 s connect timeout and prints the
// answer: run it inside a container or pod.
func Probe(addr string, port int, path string) string {
	return fmt.Sprintf(`printf 'GET %s HTTP/1.0\r\n\r\n' | nc -w 3 %s %d`, path, addr, port)
}
