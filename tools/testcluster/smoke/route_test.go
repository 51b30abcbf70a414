package smoke

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// routeDev is the interface the kernel would send a packet to addr out of, read from the
// routing table (`ip route get` sends nothing).
func routeDev(t *testing.T, addr string) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "route", "get", addr).CombinedOutput()
	if err != nil {
		t.Fatalf("ip route get %s: %v\n%s", addr, err, out)
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "dev" {
			return f[i+1]
		}
	}
	t.Fatalf("ip route get %s: no dev in %q", addr, out)
	return ""
}

// TestServiceCIDRRoute: every address of the Service CIDR routes to the port-less node
// interface (scripts/testcluster-up.sh), so a packet to a ClusterIP whose kube-proxy rules
// are missing (not programmed yet, or never allocated) goes nowhere instead of out of the
// default route to whatever real host owns that address. Checked on the routing table
// only: no packet is sent.
func TestServiceCIDRRoute(t *testing.T) {
	connect(t) // skips (or fails when required) without a test cluster
	cidr := netip.MustParsePrefix(env("TESTCLUSTER_SERVICE_CIDR", "10.96.0.0/12"))
	iface := env("TESTCLUSTER_NODE_IFACE", "nalabo-k8s0")
	// The first Service address, one in the middle, the last one.
	b := cidr.Masked().Addr().As4()
	span := uint32(1)<<(32-cidr.Bits()) - 1
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	at := func(off uint32) string {
		v := base + off
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
	}
	for _, a := range []string{at(1), at(span / 2), at(span - 1)} {
		if dev := routeDev(t, a); dev != iface {
			t.Errorf("Service address %s routes out of %s, want the node interface %s (an unprogrammed ClusterIP would leave the machine)", a, dev, iface)
		}
	}
	// Positive control: an address outside the Service CIDR (TEST-NET-3, routed nowhere
	// near the cluster) does not use the node interface, so the check above can fail.
	if dev := routeDev(t, "203.0.113.250"); dev == iface {
		t.Errorf("control: 203.0.113.250 routes out of %s too: the check cannot tell", iface)
	}
}
