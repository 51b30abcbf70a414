package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// rulesetVersion is in every rule's comment: a provider whose rules differ (another
// version) rebuilds the table, keeping the deny sets' elements.
const rulesetVersion = "v2"

// Netfilter constants the library does not name.
const (
	ctStatusDNAT   = 1 << 5 // IPS_DST_NAT
	ctDirOriginal  = 0      // IP_CT_DIR_ORIGINAL
	ipv4DaddrOff   = 16
	ipv6DaddrOff   = 24
	ipprotoICMPv6  = 58
	chainForward   = "forward"
	chainInput     = "input"
	setDeny4       = "deny4"
	setDeny6       = "deny6"
	chainPriority  = -10 // before the filter chains of Docker (iptables-nft, priority 0)
	ruleCommentPfx = "nalabo " + rulesetVersion + ": "
)

var table = &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}

// ruleSpec is one rule: its comment (unique, the identity checked on re-runs) and its
// expressions. Set lookups name the set; their IDs are filled in when the set is added.
type ruleSpec struct {
	chain   string
	comment string
	exprs   []expr.Any
}

// guardedPrefixes are the bridge-name prefixes the rules apply to: restricted and none.
var guardedPrefixes = []string{BridgePrefixRestricted, BridgePrefixNone}

// rules is the whole ruleset, in order.
func rules() []ruleSpec {
	var out []ruleSpec
	for _, pfx := range guardedPrefixes {
		iif := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(pfx)}, // iifname "nlb-*"
		}
		original := []expr.Any{
			&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{ctDirOriginal}},
		}
		drop := &expr.Verdict{Kind: expr.VerdictDrop}
		accept := &expr.Verdict{Kind: expr.VerdictAccept}
		cat := func(parts ...[]expr.Any) []expr.Any { return slices.Concat(parts...) }
		family := func(p byte) []expr.Any {
			return []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
			}
		}
		daddrIn := func(off, n uint32, set string) []expr.Any {
			return []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
				&expr.Lookup{SourceRegister: 1, SetName: set},
			}
		}
		// Forward: another session's bridge, routed (not bridged within the session: the
		// route to the destination does not go back out the input bridge). Docker's own
		// isolation between bridges does the same, but not atomically while networks
		// come and go.
		for _, to := range []string{BridgePrefixRestricted, BridgePrefixNone, BridgePrefixOpen} {
			out = append(out, ruleSpec{chainForward, pfx + "* to " + to + "* (another session): drop", cat(iif, []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte(to)},
				&expr.Fib{Register: 1, ResultOIF: true, FlagDADDR: true, FlagIIF: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}}, // fib daddr . iif oif missing
				drop,
			})})
		}
		// Forward: connections a session opens to a denied address, and to anything
		// reached through a DNAT (a port published on a host address: another session's,
		// or any container's). Only the original direction, so replies to clients of the
		// session's own published ports pass.
		out = append(out,
			ruleSpec{chainForward, pfx + "* to deny4: drop", cat(iif, original, family(unix.NFPROTO_IPV4),
				daddrIn(ipv4DaddrOff, 4, setDeny4), []expr.Any{drop})},
			ruleSpec{chainForward, pfx + "* to deny6: drop", cat(iif, original, family(unix.NFPROTO_IPV6),
				daddrIn(ipv6DaddrOff, 16, setDeny6), []expr.Any{drop})},
			ruleSpec{chainForward, pfx + "* through a DNAT (published port): drop", cat(iif, original, []expr.Any{
				&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(ctStatusDNAT), Xor: binaryutil.NativeEndian.PutUint32(0)},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
				drop,
			})},
		)
		// Input: nothing a session sends reaches the host itself, but replies to what the
		// host opened and IPv6 neighbour discovery.
		out = append(out,
			ruleSpec{chainInput, pfx + "* established,related: accept", cat(iif, []expr.Any{
				&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
					Xor:  binaryutil.NativeEndian.PutUint32(0)},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
				accept,
			})},
			ruleSpec{chainInput, pfx + "* icmpv6: accept", cat(iif, family(unix.NFPROTO_IPV6), []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{ipprotoICMPv6}},
				accept,
			})},
			ruleSpec{chainInput, pfx + "* to the host: drop", cat(iif, []expr.Any{drop})},
		)
	}
	return out
}

func chains() map[string]*nftables.Chain {
	policy := nftables.ChainPolicyAccept
	mk := func(name string, hook *nftables.ChainHook) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: table, Type: nftables.ChainTypeFilter, Hooknum: hook,
			Priority: nftables.ChainPriorityRef(chainPriority), Policy: &policy}
	}
	return map[string]*nftables.Chain{
		chainForward: mk(chainForward, nftables.ChainHookForward),
		chainInput:   mk(chainInput, nftables.ChainHookInput),
	}
}

func newSets() (*nftables.Set, *nftables.Set) {
	return &nftables.Set{Table: table, Name: setDeny4, KeyType: nftables.TypeIPAddr, Interval: true},
		&nftables.Set{Table: table, Name: setDeny6, KeyType: nftables.TypeIP6Addr, Interval: true}
}

// current is what the kernel holds of our table.
type current struct {
	exists     bool
	structured bool // chains, sets and rules exactly as rules() and chains() say
	deny4      []addrRange
	deny6      []addrRange
	comments   []string
}

// read lists the table. A missing table is not an error.
func read(c *nftables.Conn) (*current, error) {
	cur := &current{}
	t, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet)
	if err != nil || t == nil {
		if err != nil && !errors.Is(err, unix.ENOENT) && !isNotFound(err) {
			return nil, fmt.Errorf("list table inet %s: %w", TableName, err)
		}
		return cur, nil
	}
	cur.exists = true
	structured := true
	sets, err := c.GetSets(table)
	if err != nil {
		return nil, fmt.Errorf("list sets of inet %s: %w", TableName, err)
	}
	found := map[string]*nftables.Set{}
	for _, s := range sets {
		found[s.Name] = s
	}
	for _, name := range []string{setDeny4, setDeny6} {
		s := found[name]
		if s == nil || !s.Interval {
			structured = false
			continue
		}
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("list set %s: %w", name, err)
		}
		rs := elementRanges(els, name == setDeny6)
		if name == setDeny4 {
			cur.deny4 = rs
		} else {
			cur.deny6 = rs
		}
	}
	want := chains()
	got, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	var ours []*nftables.Chain
	for _, ch := range got {
		if ch.Table.Name == TableName {
			ours = append(ours, ch)
		}
	}
	if len(ours) != len(want) {
		structured = false
	}
	wantComments := map[string][]string{}
	for _, r := range rules() {
		wantComments[r.chain] = append(wantComments[r.chain], ruleCommentPfx+r.comment)
	}
	for _, ch := range ours {
		w := want[ch.Name]
		if w == nil || ch.Hooknum == nil || *ch.Hooknum != *w.Hooknum || ch.Priority == nil || *ch.Priority != *w.Priority ||
			ch.Type != w.Type || ch.Policy == nil || *ch.Policy != *w.Policy {
			structured = false
			continue
		}
		rs, err := c.GetRules(table, ch)
		if err != nil {
			return nil, fmt.Errorf("list rules of chain %s: %w", ch.Name, err)
		}
		var comments []string
		for _, r := range rs {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			comments = append(comments, s)
			cur.comments = append(cur.comments, ch.Name+": "+s)
		}
		if !slices.Equal(comments, wantComments[ch.Name]) {
			structured = false
		}
	}
	cur.structured = structured
	return cur, nil
}

func isNotFound(err error) bool {
	var errno unix.Errno
	return errors.As(err, &errno) && errno == unix.ENOENT
}

// elementRanges turns an interval set's elements (start, end-exclusive pairs) into
// inclusive ranges.
func elementRanges(els []nftables.SetElement, v6 bool) []addrRange {
	type el struct {
		a   netip.Addr
		end bool
	}
	var es []el
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			continue
		}
		es = append(es, el{a.Unmap(), e.IntervalEnd})
		if v6 {
			es[len(es)-1].a = a
		}
	}
	slices.SortFunc(es, func(x, y el) int {
		if c := x.a.Compare(y.a); c != 0 {
			return c
		}
		if x.end == y.end {
			return 0
		}
		if x.end {
			return -1
		}
		return 1
	})
	var out []addrRange
	for i := 0; i < len(es); i++ {
		if es[i].end {
			continue // the leading "nothing below" element of nft's encoding
		}
		r := addrRange{from: es[i].a}
		if i+1 < len(es) && es[i+1].end {
			r.to = es[i+1].a.Prev()
			i++
		} else if i+1 < len(es) {
			r.to = es[i+1].a.Prev()
		} else {
			r.to = lastAddr(v6)
		}
		out = append(out, r)
	}
	return mergeRanges(out)
}

func lastAddr(v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	}
	return netip.AddrFrom4([4]byte{0xff, 0xff, 0xff, 0xff})
}

// rangeElements encodes ranges as interval set elements.
func rangeElements(rs []addrRange) []nftables.SetElement {
	var out []nftables.SetElement
	for _, r := range rs {
		out = append(out, nftables.SetElement{Key: r.from.AsSlice()})
		if next := r.to.Next(); next.IsValid() {
			out = append(out, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
		}
	}
	return out
}

// split sorts prefixes into merged IPv4 and IPv6 ranges.
func split(ps []netip.Prefix) (v4, v6 []addrRange) {
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = append(v4, prefixRange(p))
		} else {
			v6 = append(v6, prefixRange(p))
		}
	}
	return mergeRanges(v4), mergeRanges(v6)
}

// rebuild replaces the table in one transaction: the sets hold deny4 and deny6.
func rebuild(c *nftables.Conn, deny4, deny6 []addrRange) error {
	c.AddTable(table) // no-op when it exists, so that the delete below cannot fail
	c.DelTable(table)
	c.AddTable(table)
	s4, s6 := newSets()
	if err := c.AddSet(s4, rangeElements(deny4)); err != nil {
		return err
	}
	if err := c.AddSet(s6, rangeElements(deny6)); err != nil {
		return err
	}
	ids := map[string]uint32{setDeny4: s4.ID, setDeny6: s6.ID}
	chs := chains()
	for _, name := range []string{chainForward, chainInput} {
		c.AddChain(chs[name])
	}
	for _, r := range rules() {
		for _, e := range r.exprs {
			if l, ok := e.(*expr.Lookup); ok {
				l.SetID = ids[l.SetName]
			}
		}
		c.AddRule(&nftables.Rule{Table: table, Chain: chs[r.chain], Exprs: r.exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, ruleCommentPfx+r.comment)})
	}
	return c.Flush()
}

// replaceElements swaps the sets' elements in one transaction.
func replaceElements(c *nftables.Conn, deny4, deny6 []addrRange) error {
	s4, s6 := newSets()
	c.FlushSet(s4)
	c.FlushSet(s6)
	if len(deny4) > 0 {
		if err := c.SetAddElements(s4, rangeElements(deny4)); err != nil {
			return err
		}
	}
	if len(deny6) > 0 {
		if err := c.SetAddElements(s6, rangeElements(deny6)); err != nil {
			return err
		}
	}
	return c.Flush()
}
