package netguard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/google/nftables"
)

func TestParseDenyAndRanges(t *testing.T) {
	ps, err := ParseDeny([]string{"169.254.169.254/32", "fd00:ec2::254", "10.0.0.7/8", " 192.0.2.0/25 ", "192.0.2.128/25"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"169.254.169.254/32", "fd00:ec2::254/128", "10.0.0.0/8", "192.0.2.0/25", "192.0.2.128/25"}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, p, want[i])
		}
	}
	v4, v6 := split(ps)
	var got []string
	for _, r := range append(v4, v6...) {
		for _, p := range rangePrefixes(r) {
			got = append(got, p.String())
		}
	}
	// Adjacent /25s merge into one /24; sorted per family.
	if w := []string{"10.0.0.0/8", "169.254.169.254/32", "192.0.2.0/24", "fd00:ec2::254/128"}; !slices.Equal(got, w) {
		t.Errorf("merged %v, want %v", got, w)
	}
	if _, err := ParseDeny([]string{"10.0.0.0/33", "nope"}); err == nil ||
		!bytes.Contains([]byte(err.Error()), []byte(`"nope" is not a CIDR`)) || !bytes.Contains([]byte(err.Error()), []byte(`"10.0.0.0/33"`)) {
		t.Errorf("bad CIDRs: err = %v", err)
	}
	// A range that is not a prefix splits into the fewest prefixes; the whole space works.
	r := addrRange{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.6")}
	var parts []string
	for _, p := range rangePrefixes(r) {
		parts = append(parts, p.String())
	}
	if w := []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}; !slices.Equal(parts, w) {
		t.Errorf("split %v, want %v", parts, w)
	}
	all := prefixRange(netip.MustParsePrefix("0.0.0.0/0"))
	if ps := rangePrefixes(all); len(ps) != 1 || ps[0].String() != "0.0.0.0/0" {
		t.Errorf("0.0.0.0/0 -> %v", ps)
	}
	if els := rangeElements([]addrRange{all}); len(els) != 1 {
		t.Errorf("0.0.0.0/0 has no interval end element, got %d elements", len(els))
	}
}

// testNetns creates a throwaway network namespace (root and iproute2 needed) and returns
// an nftables connection into it: the ruleset is checked against the real kernel without
// touching the host's.
func testNetns(t *testing.T) *nftables.Conn {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (a network namespace of its own)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip netns)")
	}
	name := fmt.Sprintf("nalabo-ngtest-%06x", rand.IntN(1<<24))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestApplyIdempotentUnion(t *testing.T) {
	c := testNetns(t)
	deny, _ := ParseDeny(DefaultDeny)
	st, err := Apply(c, deny)
	if err != nil {
		t.Fatal(err)
	}
	if st.Changed != "created" || !st.Complete || !slices.Equal(st.Deny, DefaultDeny) {
		t.Fatalf("first apply: %+v", st)
	}
	if len(st.Rules) != len(rules()) {
		t.Fatalf("rules %v, want %d", st.Rules, len(rules()))
	}
	st, err = Apply(c, deny)
	if err != nil || st.Changed != "unchanged" {
		t.Fatalf("second apply: %+v, %v", st, err)
	}
	// Another configuration's ranges are added to the same sets (union), overlapping
	// ranges included.
	other, _ := ParseDeny([]string{"203.0.113.10/32", "203.0.113.0/28", "2001:db8::/64"})
	st, err = Apply(c, other)
	if err != nil || st.Changed != "elements" {
		t.Fatalf("apply of another configuration: %+v, %v", st, err)
	}
	want := []string{"169.254.169.254/32", "203.0.113.0/28", "2001:db8::/64", "fd00:ec2::254/128"}
	if !slices.Equal(st.Deny, want) {
		t.Fatalf("deny %v, want %v", st.Deny, want)
	}
	// A damaged ruleset (a rule deleted by hand) is rebuilt with the elements it had.
	ch := chains()[chainInput]
	rs, err := c.GetRules(table, ch)
	if err != nil || len(rs) == 0 {
		t.Fatalf("rules of input: %v, %v", rs, err)
	}
	if err := c.DelRule(rs[len(rs)-1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if st, err := Read(c); err != nil || st.Complete {
		t.Fatalf("read after damage: %+v, %v", st, err)
	}
	st, err = Apply(c, deny)
	if err != nil || st.Changed != "rebuilt" || !st.Complete || !slices.Equal(st.Deny, want) {
		t.Fatalf("apply after damage: %+v, %v", st, err)
	}
}

// TestMainJSON runs the entry point as the helper container would (in a netns of its
// own through the library is not possible from Main, so only argument errors here).
func TestMainArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{Arg, "apply", "-deny", "not-a-cidr"}, &out, &errb); code != 2 ||
		!bytes.Contains(errb.Bytes(), []byte(`"not-a-cidr" is not a CIDR`)) {
		t.Fatalf("bad deny: code %d, stderr %s", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{Arg, "frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: code %d", code)
	}
	if IsInvocation([]string{"reconcile"}) || !IsInvocation([]string{Arg, "read"}) {
		t.Fatal("IsInvocation")
	}
	var st State
	if err := json.Unmarshal([]byte(`{"deny":["169.254.169.254/32"],"rules":[],"complete":true}`), &st); err != nil || !st.Complete {
		t.Fatal(err)
	}
}
