package netguard

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// addrRange is an inclusive range of addresses of one family.
type addrRange struct{ from, to netip.Addr }

// ParseDeny parses CIDRs (IPv4 or IPv6; a bare address means /32 or /128). Errors name
// the bad entry.
func ParseDeny(cidrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil || a.Zone() != "" {
				bad = append(bad, fmt.Sprintf("%q is not a CIDR (for example 169.254.169.254/32 or fd00:ec2::254/128)", c))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return out, nil
}

func prefixRange(p netip.Prefix) addrRange {
	p = p.Masked()
	from := p.Addr()
	b := from.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	to, _ := netip.AddrFromSlice(b)
	return addrRange{from, to}
}

// mergeRanges sorts ranges of one family and joins overlapping or adjacent ones (an
// interval set refuses overlapping elements).
func mergeRanges(rs []addrRange) []addrRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b addrRange) int { return a.from.Compare(b.from) })
	var out []addrRange
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			next := last.to.Next()
			if !next.IsValid() || r.from.Compare(next) <= 0 {
				if r.to.Compare(last.to) > 0 {
					last.to = r.to
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// rangePrefixes splits an inclusive range into the fewest CIDRs.
func rangePrefixes(r addrRange) []netip.Prefix {
	var out []netip.Prefix
	from := r.from
	bits := from.BitLen()
	for from.IsValid() && from.Compare(r.to) <= 0 {
		// The largest prefix starting at from that stays within the range.
		n := bits
		for n > 0 {
			p := netip.PrefixFrom(from, n-1)
			if p.Masked().Addr() != from || prefixRange(p).to.Compare(r.to) > 0 {
				break
			}
			n--
		}
		p := netip.PrefixFrom(from, n)
		out = append(out, p)
		last := prefixRange(p).to
		if last == r.to {
			break
		}
		from = last.Next()
	}
	return out
}

// rangesCover reports whether every address of want is in one of have (merged).
func rangesCover(have []addrRange, want addrRange) bool {
	for _, h := range have {
		if h.from.Compare(want.from) <= 0 && h.to.Compare(want.to) >= 0 {
			return true
		}
	}
	return false
}
