package workshop

import (
	"fmt"
	"sort"
	"strings"
)

// AllowedCapabilities are the only Linux capabilities session containers keep (every
// other one is dropped); a Compose service's cap_add may only name these.
var AllowedCapabilities = []string{
	"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE",
}

// Claim is one container's ask on a session's CPU and memory budget: its own limits,
// or zero for "an equal share of what the others leave".
type Claim struct {
	Name        string
	MilliCPU    int64
	MemoryBytes int64
}

// Share is what a container gets: NanoCPUs (1e9 = one CPU) and memory bytes.
type Share struct {
	NanoCPUs    int64
	MemoryBytes int64
}

// BudgetError says which claims do not fit a session's budget.
type BudgetError struct {
	Names []string // the claims at fault (services), sorted
	Msg   string
}

func (e *BudgetError) Error() string { return e.Msg }

// Allocate splits a session's CPU and memory between its containers: a claim with its
// own limit takes it, the rest is shared equally among the claims without one (the
// first of them, normally the workspace, takes the rounding remainder), so that the
// shares add up to the budget exactly. Claims that ask for more than the budget, or
// leave too little for a share, are an error.
func Allocate(budget ParsedResources, claims []Claim) (map[string]Share, error) {
	out := make(map[string]Share, len(claims))
	totalCPU := budget.MilliCPU * 1e6
	totalMem := budget.MemoryBytes
	var ownCPU, ownMem int64
	var cpuSharers, memSharers []string
	for _, c := range claims {
		if c.MilliCPU > budget.MilliCPU {
			return nil, &BudgetError{Names: []string{c.Name}, Msg: fmt.Sprintf("%s asks for %s CPU, more than the session's %s in total",
				c.Name, FormatMilliCPU(c.MilliCPU), FormatMilliCPU(budget.MilliCPU))}
		}
		if c.MemoryBytes > budget.MemoryBytes {
			return nil, &BudgetError{Names: []string{c.Name}, Msg: fmt.Sprintf("%s asks for %s of memory, more than the session's %s in total",
				c.Name, FormatBytes(c.MemoryBytes), FormatBytes(budget.MemoryBytes))}
		}
		s := Share{NanoCPUs: c.MilliCPU * 1e6, MemoryBytes: c.MemoryBytes}
		if c.MilliCPU > 0 {
			ownCPU += s.NanoCPUs
		} else {
			cpuSharers = append(cpuSharers, c.Name)
		}
		if c.MemoryBytes > 0 {
			ownMem += s.MemoryBytes
		} else {
			memSharers = append(memSharers, c.Name)
		}
		out[c.Name] = s
	}
	own := func(cpu bool) []string {
		var n []string
		for _, c := range claims {
			if (cpu && c.MilliCPU > 0) || (!cpu && c.MemoryBytes > 0) {
				n = append(n, c.Name)
			}
		}
		sort.Strings(n)
		return n
	}
	if ownCPU > totalCPU {
		n := own(true)
		return nil, &BudgetError{Names: n, Msg: fmt.Sprintf("%s ask for %s CPU together, more than the session's %s in total",
			strings.Join(n, ", "), FormatMilliCPU(ownCPU/1e6), FormatMilliCPU(budget.MilliCPU))}
	}
	if ownMem > totalMem {
		n := own(false)
		return nil, &BudgetError{Names: n, Msg: fmt.Sprintf("%s ask for %s of memory together, more than the session's %s in total",
			strings.Join(n, ", "), FormatBytes(ownMem), FormatBytes(budget.MemoryBytes))}
	}
	if k := int64(len(cpuSharers)); k > 0 {
		left := totalCPU - ownCPU
		each := left / k
		if each < MinMilliCPU*1e6 {
			return nil, &BudgetError{Names: own(true), Msg: fmt.Sprintf("the session's %s CPU leaves %s for %d containers without their own limit (%s); the minimum is %dm each",
				FormatMilliCPU(budget.MilliCPU), FormatMilliCPU(left/1e6), k, strings.Join(cpuSharers, ", "), MinMilliCPU)}
		}
		for i, n := range cpuSharers {
			s := out[n]
			s.NanoCPUs = each
			if i == 0 {
				s.NanoCPUs += left - each*k
			}
			out[n] = s
		}
	}
	if k := int64(len(memSharers)); k > 0 {
		left := totalMem - ownMem
		each := left / k
		if each < MinMemoryBytes {
			return nil, &BudgetError{Names: own(false), Msg: fmt.Sprintf("the session's %s of memory leaves %s for %d containers without their own limit (%s); the minimum is 6Mi each",
				FormatBytes(budget.MemoryBytes), FormatBytes(left), k, strings.Join(memSharers, ", "))}
		}
		for i, n := range memSharers {
			s := out[n]
			s.MemoryBytes = each
			if i == 0 {
				s.MemoryBytes += left - each*k
			}
			out[n] = s
		}
	}
	return out, nil
}
