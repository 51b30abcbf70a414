// Package netguard programs the Docker host's egress policy for sessions: one nftables
// table, inet nalabo, that drops what a session bridge sends
//
//   - to an address of the deny sets (deny4, deny6: the cloud metadata endpoints and
//     the operator's ranges), in the forward hook;
//   - to another session's bridge (routed, whatever Docker's own isolation does), and
//     through a DNAT, that is to a port published on a host address (another
//     session's, any container's), in the forward hook;
//   - to the host itself (its services, the Kubernetes API of the same host, ports
//     published by docker-proxy), in the input hook, but replies to connections the
//     host opened and IPv6 neighbour discovery.
//
// Rules match session bridges by name prefix (BridgePrefixRestricted, BridgePrefixNone),
// so the ruleset holds no per-session state and is installed once per engine. Open
// sessions (BridgePrefixOpen) match no rule.
//
// It runs inside the provider binary itself, as a hidden entry point: the Docker
// backend starts the binary in a short-lived container (network mode host, NET_ADMIN
// only) on the engine's host, since a remote engine has no agent of ours. Main is that
// entry point; the provider's main (and the TestMain of test packages that create
// Docker sessions) dispatch to it when IsInvocation says so.
package netguard

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/google/nftables"
)

// Names shared with the Docker backend.
const (
	// TableName is the nftables table (family inet) of the ruleset.
	TableName = "nalabo"
	// Bridge-name prefixes of session networks, by egress mode. A Linux interface name
	// has at most 15 bytes: prefix (4) + 11.
	BridgePrefixRestricted = "nlb-"
	BridgePrefixNone       = "nln-"
	BridgePrefixOpen       = "nlo-"
	// Arg is the first argument that selects the helper entry point. It starts with a
	// dash so that a Go test binary without the TestMain dispatch refuses it as an
	// unknown flag instead of running its tests.
	Arg = "-nalabo-netguard"
)

// DefaultDeny are the cloud metadata endpoints (AWS, GCP, Azure, OpenStack and others
// share 169.254.169.254; AWS's IPv6 one is fd00:ec2::254).
var DefaultDeny = []string{"169.254.169.254/32", "fd00:ec2::254/128"}

// IsInvocation reports whether args (os.Args[1:]) ask for the helper entry point.
func IsInvocation(args []string) bool { return len(args) > 0 && args[0] == Arg }

// State is what the helper reports (JSON on stdout).
type State struct {
	// Changed tells what Apply did: "created", "rebuilt", "elements" or "unchanged".
	Changed string `json:"changed,omitempty"`
	// Deny is every CIDR of the deny sets (the union over every provider configuration
	// that installed the ruleset on this host).
	Deny []string `json:"deny"`
	// Rules are the rules' comments, "<chain>: <comment>", in order.
	Rules []string `json:"rules"`
	// Complete is true when the table holds exactly this version's chains and rules.
	Complete bool `json:"complete"`
}

// Apply installs the ruleset in the network namespace of conn (nil: the caller's) and
// adds deny to its deny sets. Idempotent: an existing, current ruleset only gets the
// missing elements; an outdated or damaged one is rebuilt in one transaction, keeping
// the elements it had.
func Apply(conn *nftables.Conn, deny []netip.Prefix) (*State, error) {
	if conn == nil {
		c, err := nftables.New()
		if err != nil {
			return nil, err
		}
		conn = c
	}
	want4, want6 := split(deny)
	changed := "unchanged"
	// A concurrent helper (another provider configuration) may replace the elements
	// between our read and our write: check that ours made it, a few times.
	for attempt := 0; attempt < 4; attempt++ {
		cur, err := read(conn)
		if err != nil {
			return nil, err
		}
		all4 := mergeRanges(append(slices.Clone(cur.deny4), want4...))
		all6 := mergeRanges(append(slices.Clone(cur.deny6), want6...))
		covered := true
		for _, r := range want4 {
			covered = covered && rangesCover(cur.deny4, r)
		}
		for _, r := range want6 {
			covered = covered && rangesCover(cur.deny6, r)
		}
		switch {
		case cur.structured && covered:
			st := stateOf(cur)
			st.Changed = changed
			return st, nil
		case cur.structured:
			if err := replaceElements(conn, all4, all6); err != nil {
				return nil, fmt.Errorf("add deny set elements to inet %s: %w", TableName, err)
			}
			if changed == "unchanged" {
				changed = "elements"
			}
		default:
			if err := rebuild(conn, all4, all6); err != nil {
				return nil, fmt.Errorf("install table inet %s: %w", TableName, err)
			}
			changed = "rebuilt"
			if !cur.exists {
				changed = "created"
			}
		}
	}
	return nil, fmt.Errorf("table inet %s: the deny set elements kept disappearing (another process rewrites the table?)", TableName)
}

// Read returns the installed ruleset (Complete false and no rules when there is none).
func Read(conn *nftables.Conn) (*State, error) {
	if conn == nil {
		c, err := nftables.New()
		if err != nil {
			return nil, err
		}
		conn = c
	}
	cur, err := read(conn)
	if err != nil {
		return nil, err
	}
	return stateOf(cur), nil
}

func stateOf(cur *current) *State {
	st := &State{Rules: cur.comments, Complete: cur.structured, Deny: []string{}}
	for _, r := range append(slices.Clone(cur.deny4), cur.deny6...) {
		for _, p := range rangePrefixes(r) {
			st.Deny = append(st.Deny, p.String())
		}
	}
	if st.Rules == nil {
		st.Rules = []string{}
	}
	return st
}

// Main is the helper entry point: args are os.Args[1:] (Arg first), then "apply
// [-deny CIDR]..." or "read". It prints the State as JSON on stdout and returns the
// exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if !IsInvocation(args) || len(args) < 2 {
		fmt.Fprintf(stderr, "usage: %s apply [-deny CIDR]... | %s read\n", Arg, Arg)
		return 2
	}
	var st *State
	switch args[1] {
	case "apply":
		fs := flag.NewFlagSet("apply", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var deny []string
		fs.Func("deny", "CIDR to drop from restricted sessions (repeatable)", func(s string) error {
			deny = append(deny, s)
			return nil
		})
		if err := fs.Parse(args[2:]); err != nil {
			return 2
		}
		ps, err := ParseDeny(deny)
		if err != nil {
			fmt.Fprintf(stderr, "netguard: deny: %v\n", err)
			return 2
		}
		if st, err = Apply(nil, ps); err != nil {
			fmt.Fprintf(stderr, "netguard: %v\n", err)
			return 1
		}
	case "read":
		var err error
		if st, err = Read(nil); err != nil {
			fmt.Fprintf(stderr, "netguard: %v\n", err)
			return 1
		}
	default:
		fmt.Fprintf(stderr, "netguard: unknown command %q (apply or read)\n", args[1])
		return 2
	}
	if err := json.NewEncoder(stdout).Encode(st); err != nil {
		fmt.Fprintf(stderr, "netguard: %v\n", err)
		return 1
	}
	return 0
}
