package workshop

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Overcommit is how far the sessions' reservations may exceed what a backend can give:
// reservations are admitted up to capacity × ratio (ratios >= 1).
type Overcommit struct {
	CPU    float64
	Memory float64
	// GPU: reserved GPUs to the GPUs the nodes advertise now (Kubernetes). A GPU is not
	// shared: above 1 only where an autoscaler adds GPU nodes on demand. Below 1 is 1.
	GPU float64
}

// DefaultOvercommit: CPU is compressible (sessions of a class are mostly idle, a busy
// one is throttled, not killed), memory is not (an overcommitted host OOM-kills).
var DefaultOvercommit = Overcommit{CPU: 4, Memory: 1, GPU: 1}

// Change is what one planned session adds to its backend's reservations: a new
// session (Create), a stopped persistent session resumed (Resume: it reserved nothing
// while stopped, so its whole reservation counts, but it is no new session for
// MaxSessions) or a changed one (the difference with what it reserves now). A
// dimension that is not known yet (a value known only at apply) is not checked.
type Change struct {
	Infra       InfrastructureType
	Create      bool
	Resume      bool
	MilliCPU    int64 // the session's reservation (Create, Resume) or its increase
	Memory      int64
	CPUKnown    bool
	MemoryKnown bool
	// GPUs of a new or resumed session (GPUResource names them); GPUs are not
	// overcommitted and are checked only where the backend tells its GPUs
	// (Info.AllocatableGPUs).
	GPUs        int64
	GPUResource string
	// Participant names the session in log fields.
	Participant string
}

// Grows says whether the change reserves more than before (an unknown size counts as
// no growth: the apply plans it again once known).
func (c Change) Grows() bool {
	return c.CPUKnown && c.MilliCPU > 0 || c.MemoryKnown && c.Memory > 0
}

// attribute is the session attribute a refusal of c is about: "state" for a resume.
func (c Change) attribute() string {
	if c.Resume {
		return "state"
	}
	return "participant"
}

// AdmissionError says that a class does not fit, with the figures.
type AdmissionError struct {
	Attribute string // the provider attribute that would admit it ("docker.overcommit.cpu", "max_sessions")
	// SessionAttribute is the session's attribute that asked for it: "participant" (a
	// new or growing session) or "state" (a resume).
	SessionAttribute string
	Msg              string
}

func (e *AdmissionError) Error() string { return e.Msg }

// Admission tallies what the sessions of one plan (or one apply) reserve on top of
// what a snapshot of the backends says is reserved already, and refuses a session that
// would take the total beyond capacity × overcommit, or the sessions beyond
// MaxSessions. The snapshot is taken once per process, before this process created
// anything, so the tally counts each session once: live in the snapshot, or planned.
// Only growth is checked: a session that reserves no more than before is always
// admitted, so a class admitted once can always be re-planned, changed and destroyed.
// A stopped persistent session reserves nothing (the snapshot leaves it out of Used*
// but counts it in Sessions: it still exists, with its data, for MaxSessions); its
// resume is growth by its whole reservation.
type Admission struct {
	Overcommit  map[InfrastructureType]Overcommit
	MaxSessions int64 // 0: no limit

	mu      sync.Mutex
	planned map[InfrastructureType]*plannedTally
	creates int // new sessions of every backend
	// freed is what this process deleted after the snapshot: an apply replaces a
	// session by deleting it, then planning its successor as new.
	freed        map[InfrastructureType]*Info
	freedSession int
}

// plannedTally is what the changes admitted (or refused) so far add on one backend.
type plannedTally struct {
	creates        int
	createCPU      int64
	createMemory   int64
	cpuSizes       map[int64]bool
	memSizes       map[int64]bool
	increases      int
	increaseCPU    int64
	increaseMemory int64
	resumes        int
	resumeCPU      int64
	resumeMemory   int64
	gpus           map[string]int64 // new and resumed sessions' GPUs by resource name
	gpuSessions    map[string]int
}

// cpu and memory are what the changes tallied so far add.
func (t *plannedTally) cpu() int64    { return t.createCPU + t.increaseCPU + t.resumeCPU }
func (t *plannedTally) memory() int64 { return t.createMemory + t.increaseMemory + t.resumeMemory }

// NewAdmission returns an empty tally; a backend without an overcommit entry uses
// DefaultOvercommit.
func NewAdmission(overcommit map[InfrastructureType]Overcommit, maxSessions int64) *Admission {
	return &Admission{Overcommit: overcommit, MaxSessions: maxSessions, planned: map[InfrastructureType]*plannedTally{},
		freed: map[InfrastructureType]*Info{}}
}

// Free records a session this process deleted (its reservation), so that the
// snapshot, taken before, no longer counts it.
func (a *Admission) Free(infra InfrastructureType, milliCPU, memory int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.freed[infra]
	if f == nil {
		f = &Info{Type: infra}
		a.freed[infra] = f
	}
	f.UsedMilliCPU += max(milliCPU, 0)
	f.UsedMemory += max(memory, 0)
	f.Sessions++
	a.freedSession++
}

// OvercommitOf returns the ratios of one backend.
func (a *Admission) OvercommitOf(infra InfrastructureType) Overcommit {
	if o, ok := a.Overcommit[infra]; ok {
		return o
	}
	return DefaultOvercommit
}

// Admit adds c to the tally and checks it against live (the backend's snapshot) and,
// for a new session, liveSessions (the sessions of every backend the provider counts).
// Changed sessions count even when refused: the class as a whole needs them, and the
// next message gives the larger figure. Nothing that does not grow is refused.
func (a *Admission) Admit(c Change, live *Info, liveSessions int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.planned[c.Infra]
	if t == nil {
		t = &plannedTally{cpuSizes: map[int64]bool{}, memSizes: map[int64]bool{}, gpus: map[string]int64{}, gpuSessions: map[string]int{}}
		a.planned[c.Infra] = t
	}
	cpu, mem := max(c.MilliCPU, 0), max(c.Memory, 0)
	if !c.CPUKnown {
		cpu = 0
	}
	if !c.MemoryKnown {
		mem = 0
	}
	if c.Create {
		t.creates++
		a.creates++
		t.createCPU += cpu
		t.createMemory += mem
		if c.CPUKnown {
			t.cpuSizes[cpu] = true
		}
		if c.MemoryKnown {
			t.memSizes[mem] = true
		}
	} else if c.Resume {
		t.resumes++
		t.resumeCPU += cpu
		t.resumeMemory += mem
	} else if cpu > 0 || mem > 0 {
		t.increases++
		t.increaseCPU += cpu
		t.increaseMemory += mem
	}
	if (c.Create || c.Resume) && c.GPUs > 0 {
		t.gpus[c.GPUResource] += c.GPUs
		t.gpuSessions[c.GPUResource]++
	}

	if live != nil && live.PoolFree > 0 && t.creates > 0 {
		// New sessions claim free warm pool entries, whose reservations live counts
		// already: the first creates of the plan reserve nothing more.
		l, claims := *live, int64(min(t.creates, live.PoolFree))
		l.UsedMilliCPU -= claims * live.PoolFreeMilliCPU / int64(live.PoolFree)
		l.UsedMemory -= claims * live.PoolFreeMemory / int64(live.PoolFree)
		live = &l
	}
	if f := a.freed[c.Infra]; f != nil && live != nil {
		l := *live
		l.UsedMilliCPU, l.UsedMemory, l.Sessions = max(l.UsedMilliCPU-f.UsedMilliCPU, 0), max(l.UsedMemory-f.UsedMemory, 0), max(l.Sessions-f.Sessions, 0)
		live = &l
	}
	liveSessions = max(liveSessions-a.freedSession, 0)

	var msgs []string
	attr := ""
	if c.Create && a.MaxSessions > 0 && int64(liveSessions+a.creates) > a.MaxSessions {
		attr = "max_sessions"
		msgs = append(msgs, fmt.Sprintf("this plan creates %d sessions so far and %d exist already (every state's, as the backends list them): "+
			"%d sessions, more than max_sessions = %d.", a.creates, liveSessions, liveSessions+a.creates, a.MaxSessions))
	}
	if live != nil {
		o := a.OvercommitOf(c.Infra)
		if cpu > 0 && live.AllocatableMilliCPU > 0 {
			limit := Admissible(live.AllocatableMilliCPU, o.CPU)
			if total := live.UsedMilliCPU + t.cpu(); total > limit {
				if attr == "" {
					attr = string(c.Infra) + ".overcommit.cpu"
				}
				msgs = append(msgs, fmt.Sprintf("the class needs %s CPU reserved (%s) + %s reserved by %d live sessions%s = %s CPU; %s has %s CPU × overcommit %s = %s CPU.",
					cores(t.cpu()), t.describe(true, cores, "CPU"), cores(live.UsedMilliCPU), live.Sessions, stoppedNote(live), cores(total),
					hostName(live), cores(live.AllocatableMilliCPU), ratio(o.CPU), cores(limit)))
			}
		}
		if mem > 0 && live.AllocatableMemory > 0 {
			limit := Admissible(live.AllocatableMemory, o.Memory)
			if total := live.UsedMemory + t.memory(); total > limit {
				if attr == "" {
					attr = string(c.Infra) + ".overcommit.memory"
				}
				msgs = append(msgs, fmt.Sprintf("the class needs %s of memory reserved (%s) + %s reserved by %d live sessions%s = %s; %s has %s × overcommit %s = %s.",
					gib(t.memory()), t.describe(false, gib, "of memory"), gib(live.UsedMemory), live.Sessions, stoppedNote(live), gib(total),
					hostName(live), gib(live.AllocatableMemory), ratio(o.Memory), gib(limit)))
			}
		}
		// GPUs: checked where the nodes advertise some of that resource (none at all:
		// an autoscaler may add the nodes, or the name is wrong; the provider warns).
		if name := c.GPUResource; (c.Create || c.Resume) && c.GPUs > 0 && live.AllocatableGPUs[name] > 0 {
			have, used := live.AllocatableGPUs[name], live.UsedGPUs[name]
			limit := Admissible(have, max(o.GPU, 1))
			if total := used + t.gpus[name]; total > limit {
				if attr == "" {
					attr = string(c.Infra) + ".overcommit.gpu"
				}
				msgs = append(msgs, fmt.Sprintf("the class needs %d %s (%d %s planned so far) + %d reserved by live sessions = %d; "+
					"the nodes of %s advertise %d × overcommit %s = %d.",
					t.gpus[name], name, t.gpuSessions[name], newOrResumed(t), used, total, hostName(live), have, ratio(max(o.GPU, 1)), limit))
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &AdmissionError{Attribute: attr, SessionAttribute: c.attribute(), Msg: strings.Join(msgs, "\n")}
}

// newOrResumed names the sessions a plan adds: new ones, or resumed ones too.
func newOrResumed(t *plannedTally) string {
	if t.resumes > 0 {
		return "new or resumed sessions"
	}
	return "new sessions"
}

// stoppedNote says how many of the live sessions are stopped (and reserve nothing).
func stoppedNote(live *Info) string {
	if live.StoppedSessions == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of them stopped, reserving nothing)", live.StoppedSessions)
}

// Admissible is what sessions may reserve together: capacity × ratio.
func Admissible(capacity int64, ratio float64) int64 { return int64(float64(capacity) * ratio) }

// describe spells how the planned figure adds up: "30 new sessions × 0.3 CPU".
func (t *plannedTally) describe(cpu bool, format func(int64) string, unit string) string {
	created, increased, resumed, sizes := t.createMemory, t.increaseMemory, t.resumeMemory, t.memSizes
	if cpu {
		created, increased, resumed, sizes = t.createCPU, t.increaseCPU, t.resumeCPU, t.cpuSizes
	}
	var parts []string
	if t.creates > 0 {
		if len(sizes) == 1 {
			for s := range sizes {
				parts = append(parts, fmt.Sprintf("%d new sessions × %s %s", t.creates, format(s), unit))
			}
		} else {
			parts = append(parts, fmt.Sprintf("%d new sessions, %s together", t.creates, format(created)))
		}
	}
	if t.increases > 0 {
		parts = append(parts, fmt.Sprintf("%s more for %d resized sessions", format(increased), t.increases))
	}
	if t.resumes > 0 {
		parts = append(parts, fmt.Sprintf("%s %s for %d resumed sessions", format(resumed), unit, t.resumes))
	}
	return strings.Join(parts, " + ") + " planned so far"
}

func hostName(i *Info) string {
	switch i.Type {
	case InfraDocker:
		return "the Docker host"
	case InfraKubernetes:
		if src := i.Details["capacity_source"]; src != "" {
			return "the Kubernetes cluster (" + src + ")"
		}
		return "the Kubernetes cluster"
	}
	return string(i.Type)
}

// cores renders millicores as cores: 8800 -> "8.8".
func cores(m int64) string { return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64) }

// gib renders bytes in GiB with at most two decimals: "7.5 GiB".
func gib(b int64) string {
	s := strconv.FormatFloat(float64(b)/(1<<30), 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + " GiB"
}

func ratio(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
