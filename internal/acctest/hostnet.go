package acctest

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Egress tests send traffic only to listeners they start: in a network namespace of
// their own (TEST-NET-3 addresses behind a veth pair) or on the host.

// HostNet is a network the test builds on the host: a network namespace joined to
// the host by a veth pair, holding TEST-NET-3 addresses the tests listen on. The host
// end gets its own TEST-NET-3 address (a host address the test owns).
type HostNet struct {
	NS                string
	Host, Deny, Allow netip.Addr // host end, a listener to deny, a listener to allow
	DenyURL, AllowURL string     // http://<addr>:8080/, answering "denied listener" / "allowed listener"
}

// NewHostNet builds the namespace (it skips the test without root or iproute2) and its two listeners; everything is removed when
// the test ends. Addresses come from a random block of 203.0.113.0/24 (host routes, /32),
// so concurrent test packages do not collide.
func NewHostNet(t *testing.T) *HostNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace and a veth pair)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (scripts/install-deps.sh)")
	}
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	for attempt := 0; ; attempt++ {
		tag := fmt.Sprintf("%06x", rand.IntN(1<<24))
		base := 4 * (16 + rand.IntN(46)) // 64..248
		n := &HostNet{
			NS:    "nalabo-egress-" + tag,
			Host:  netip.AddrFrom4([4]byte{203, 0, 113, byte(base + 1)}),
			Deny:  netip.AddrFrom4([4]byte{203, 0, 113, byte(base + 2)}),
			Allow: netip.AddrFrom4([4]byte{203, 0, 113, byte(base + 3)}),
		}
		hv, pv := "ngh"+tag, "ngp"+tag
		t.Cleanup(func() {
			_ = exec.Command("ip", "link", "del", hv).Run()
			_ = exec.Command("ip", "netns", "del", n.NS).Run()
		})
		err := func() error {
			for _, args := range [][]string{
				{"netns", "add", n.NS},
				{"link", "add", hv, "type", "veth", "peer", "name", pv},
				{"link", "set", pv, "netns", n.NS},
				{"addr", "add", n.Host.String() + "/32", "dev", hv},
				{"link", "set", hv, "up"},
				{"route", "add", n.Deny.String() + "/32", "dev", hv},
				{"route", "add", n.Allow.String() + "/32", "dev", hv},
				{"-n", n.NS, "link", "set", "lo", "up"},
				{"-n", n.NS, "addr", "add", n.Deny.String() + "/32", "dev", pv},
				{"-n", n.NS, "addr", "add", n.Allow.String() + "/32", "dev", pv},
				{"-n", n.NS, "link", "set", pv, "up"},
				{"-n", n.NS, "route", "add", n.Host.String() + "/32", "dev", pv},
				{"-n", n.NS, "route", "add", "default", "via", n.Host.String(), "dev", pv},
			} {
				if err := run(args...); err != nil {
					return err
				}
			}
			return nil
		}()
		if err == nil {
			n.DenyURL = listenInNetns(t, n.NS, n.Deny, "denied listener")
			n.AllowURL = listenInNetns(t, n.NS, n.Allow, "allowed listener")
			return n
		}
		if attempt >= 3 || !strings.Contains(err.Error(), "File exists") {
			t.Fatal(err)
		}
	}
}

// listenInNetns serves body on addr:8080 from a socket opened inside network namespace
// ns, and returns its URL.
func listenInNetns(t *testing.T, ns string, addr netip.Addr, body string) string {
	t.Helper()
	l, err := ListenInNetns(ns, netip.AddrPortFrom(addr, 8080).String())
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	serveBody(t, l, body)
	return "http://" + l.Addr().String() + "/"
}

// ListenInNetns opens a TCP listener on address (host:port, port 0 for any) inside the
// network namespace /run/netns/<ns>: only that namespace reaches it, the test serves it
// from any goroutine.
func ListenInNetns(ns, address string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	rc := make(chan result, 1)
	go func() {
		// The socket belongs to the namespace of the thread that creates it; this
		// thread is thrown away afterwards (no UnlockOSThread).
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			rc <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			rc <- result{err: fmt.Errorf("enter network namespace %s: %w", ns, err)}
			return
		}
		l, err := net.Listen("tcp", address)
		rc <- result{l, err}
	}()
	r := <-rc
	return r.l, r.err
}

// HostListener serves body on every host address, port picked by the kernel.
func HostListener(t *testing.T, body string) int {
	t.Helper()
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	serveBody(t, l, body)
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("listener address %v is not TCP", l.Addr())
	}
	return addr.Port
}

// serveBody answers every request on l with body until the test ends.
func serveBody(t *testing.T, l net.Listener, body string) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })}
	go func() { _ = srv.Serve(l) }() // ends with http.ErrServerClosed at cleanup
	t.Cleanup(func() { _ = srv.Close() })
}
