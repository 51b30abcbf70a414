package workshop

import (
	"errors"
	"strings"
	"testing"
)

func TestAdmissionRefusesGrowthBeyondCapacity(t *testing.T) {
	live := &Info{Type: InfraDocker, AllocatableMilliCPU: 2000, AllocatableMemory: 8 << 30, UsedMilliCPU: 1200, UsedMemory: 1 << 30, Sessions: 4}
	a := NewAdmission(nil, 0) // default overcommit: cpu 4 -> 8 CPU admitted
	var refused error
	n := 0
	for i := 0; i < 30 && refused == nil; i++ {
		refused = a.Admit(Change{Infra: InfraDocker, Create: true, MilliCPU: 300, CPUKnown: true, Memory: 64 << 20, MemoryKnown: true}, live, 4)
		n++
	}
	// 1.2 + 23 × 0.3 = 8.1 > 8: the 23rd new session is the first refused.
	if n != 23 {
		t.Fatalf("first refusal at session %d, want 23 (err %v)", n, refused)
	}
	var ae *AdmissionError
	if !errors.As(refused, &ae) || ae.Attribute != "docker.overcommit.cpu" {
		t.Fatalf("refusal = %#v", refused)
	}
	for _, want := range []string{"6.9 CPU reserved (23 new sessions × 0.3 CPU planned so far)", "+ 1.2 reserved by 4 live sessions = 8.1 CPU",
		"the Docker host has 2 CPU × overcommit 4 = 8 CPU"} {
		if !strings.Contains(ae.Msg, want) {
			t.Errorf("message %q lacks %q", ae.Msg, want)
		}
	}
	// Nothing that does not grow is refused, even over the limit.
	if err := a.Admit(Change{Infra: InfraDocker, MilliCPU: 0, CPUKnown: true, MemoryKnown: true}, live, 4); err != nil {
		t.Errorf("an unchanged session was refused: %v", err)
	}
	if err := a.Admit(Change{Infra: InfraDocker, MilliCPU: -300, CPUKnown: true, MemoryKnown: true}, live, 4); err != nil {
		t.Errorf("a shrinking session was refused: %v", err)
	}
	// Unknown values are not checked (the apply re-plans with them known).
	if err := a.Admit(Change{Infra: InfraDocker, Create: true}, live, 4); err != nil {
		t.Errorf("a session of unknown size was refused: %v", err)
	}
	// A higher overcommit admits the same class (positive control).
	b := NewAdmission(map[InfrastructureType]Overcommit{InfraDocker: {CPU: 16, Memory: 1}}, 0)
	for i := 0; i < 30; i++ {
		if err := b.Admit(Change{Infra: InfraDocker, Create: true, MilliCPU: 300, CPUKnown: true}, live, 4); err != nil {
			t.Fatalf("session %d refused with overcommit 16: %v", i+1, err)
		}
	}
}

func TestAdmissionMemoryAndMaxSessions(t *testing.T) {
	live := &Info{Type: InfraDocker, AllocatableMilliCPU: 2000, AllocatableMemory: 4 << 30, Sessions: 1}
	a := NewAdmission(map[InfrastructureType]Overcommit{InfraDocker: {CPU: 4, Memory: 1}}, 3)
	for i := 0; i < 2; i++ {
		if err := a.Admit(Change{Infra: InfraDocker, Create: true, Memory: 1 << 30, MemoryKnown: true}, live, 1); err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
	}
	err := a.Admit(Change{Infra: InfraDocker, Create: true, Memory: 2560 << 20, MemoryKnown: true}, live, 1)
	var ae *AdmissionError
	if !errors.As(err, &ae) || ae.Attribute != "max_sessions" {
		t.Fatalf("third new session with one live and max_sessions 3: %v", err)
	}
	for _, want := range []string{"this plan creates 3 sessions so far and 1 exist already", "4 sessions, more than max_sessions = 3",
		"4.5 GiB of memory reserved (3 new sessions, 4.5 GiB together planned so far)", "4 GiB × overcommit 1 = 4 GiB"} {
		if !strings.Contains(ae.Msg, want) {
			t.Errorf("message %q lacks %q", ae.Msg, want)
		}
	}
}

// An apply replaces a session by deleting it and then planning its successor as a new
// one: what this process deleted after the snapshot no longer counts.
func TestAdmissionCountsDeletesOfThisProcess(t *testing.T) {
	live := &Info{Type: InfraDocker, AllocatableMilliCPU: 2000, AllocatableMemory: 8 << 30, UsedMilliCPU: 2000, UsedMemory: 2 << 30, Sessions: 2}
	a := NewAdmission(map[InfrastructureType]Overcommit{InfraDocker: {CPU: 1, Memory: 1}}, 2)
	one := Change{Infra: InfraDocker, Create: true, MilliCPU: 1000, CPUKnown: true, Memory: 1 << 30, MemoryKnown: true}
	if err := a.Admit(one, live, 2); err == nil {
		t.Fatal("a full host admitted one more session (control)")
	}
	b := NewAdmission(map[InfrastructureType]Overcommit{InfraDocker: {CPU: 1, Memory: 1}}, 2)
	b.Free(InfraDocker, 1000, 1<<30)
	if err := b.Admit(one, live, 2); err != nil {
		t.Fatalf("the successor of a deleted session was refused: %v", err)
	}
}

// TestAdmissionPoolClaims: free warm pool entries already reserve their share (Used*):
// the first new sessions claim them and reserve nothing more. The same class without a
// pool is refused earlier (the positive control).
func TestAdmissionPoolClaims(t *testing.T) {
	firstRefusal := func(live *Info) int {
		a := NewAdmission(map[InfrastructureType]Overcommit{InfraKubernetes: {CPU: 1, Memory: 1}}, 0)
		for i := 1; i <= 50; i++ {
			if a.Admit(Change{Infra: InfraKubernetes, Create: true, MilliCPU: 500, CPUKnown: true, Memory: 1 << 20, MemoryKnown: true}, live, 0) != nil {
				return i
			}
		}
		return 0
	}
	// 4 CPU; 4 free entries of 0.5 CPU reserve 2 of them.
	pooled := &Info{Type: InfraKubernetes, AllocatableMilliCPU: 4000, AllocatableMemory: 64 << 30,
		UsedMilliCPU: 2000, UsedMemory: 4 << 20, PoolFree: 4, PoolFreeMilliCPU: 2000, PoolFreeMemory: 4 << 20}
	// 4 claims + 4 more new sessions fit (2 + 4 × 0.5 = 4): the 9th is refused.
	if n := firstRefusal(pooled); n != 9 {
		t.Errorf("with a pool of 4, first refusal at session %d, want 9", n)
	}
	unpooled := *pooled
	unpooled.PoolFree, unpooled.PoolFreeMilliCPU, unpooled.PoolFreeMemory = 0, 0, 0
	if n := firstRefusal(&unpooled); n != 5 {
		t.Errorf("the same reservations without a pool: first refusal at session %d, want 5", n)
	}
}

// A resume counts the session's whole reservation (stopped, it reserved nothing), is
// refused on `state`, and is no new session for max_sessions.
func TestAdmissionResume(t *testing.T) {
	// 4 live sessions, 2 of them stopped: the snapshot's Used* leaves those out.
	live := &Info{Type: InfraDocker, AllocatableMilliCPU: 2000, AllocatableMemory: 8 << 30, UsedMilliCPU: 1000, Sessions: 4, StoppedSessions: 2}
	a := NewAdmission(map[InfrastructureType]Overcommit{InfraDocker: {CPU: 1, Memory: 1}}, 4) // max_sessions = the live count
	if err := a.Admit(Change{Infra: InfraDocker, Resume: true, MilliCPU: 500, CPUKnown: true, MemoryKnown: true}, live, 4); err != nil {
		t.Fatalf("the first resume fits (1 + 0.5 <= 2 CPU) and adds no session: %v", err)
	}
	err := a.Admit(Change{Infra: InfraDocker, Resume: true, MilliCPU: 600, CPUKnown: true, MemoryKnown: true}, live, 4)
	var ae *AdmissionError
	if !errors.As(err, &ae) || ae.Attribute != "docker.overcommit.cpu" || ae.SessionAttribute != "state" {
		t.Fatalf("second resume (1 + 1.1 > 2 CPU): %#v", err)
	}
	for _, want := range []string{"1.1 CPU reserved (1.1 CPU for 2 resumed sessions planned so far)",
		"+ 1 reserved by 4 live sessions (2 of them stopped, reserving nothing) = 2.1 CPU"} {
		if !strings.Contains(ae.Msg, want) {
			t.Errorf("message %q lacks %q", ae.Msg, want)
		}
	}
	// Positive control: a new session (same size) is refused on participant, and by
	// max_sessions too (stopped sessions count there).
	err = NewAdmission(map[InfrastructureType]Overcommit{InfraDocker: {CPU: 1, Memory: 1}}, 4).
		Admit(Change{Infra: InfraDocker, Create: true, MilliCPU: 1100, CPUKnown: true}, live, 4)
	if !errors.As(err, &ae) || ae.Attribute != "max_sessions" || ae.SessionAttribute != "participant" ||
		!strings.Contains(ae.Msg, "more than max_sessions = 4") || !strings.Contains(ae.Msg, "2.1 CPU") {
		t.Fatalf("new session: %#v", err)
	}

	// A resumed session's GPUs count too (stopped, it released them).
	gpuLive := &Info{Type: InfraKubernetes, AllocatableMilliCPU: 64000, AllocatableMemory: 256 << 30,
		AllocatableGPUs: map[string]int64{"nvidia.com/gpu": 2}, UsedGPUs: map[string]int64{"nvidia.com/gpu": 1}, Sessions: 2, StoppedSessions: 1}
	g := NewAdmission(nil, 0)
	resume := Change{Infra: InfraKubernetes, Resume: true, MilliCPU: 500, CPUKnown: true, GPUs: 1, GPUResource: "nvidia.com/gpu"}
	if err := g.Admit(resume, gpuLive, 2); err != nil {
		t.Fatalf("resume of 1 GPU, 1 live of 2: %v", err)
	}
	if err := g.Admit(resume, gpuLive, 2); !errors.As(err, &ae) || ae.Attribute != "kubernetes.overcommit.gpu" ||
		ae.SessionAttribute != "state" || !strings.Contains(ae.Msg, "needs 2 nvidia.com/gpu (2 new or resumed sessions planned so far)") {
		t.Fatalf("second GPU resume: %#v", err)
	}
}

// TestAdmissionGPUs: new sessions' GPUs count against what the nodes advertise (× the
// GPU ratio) with what live sessions reserve, per resource name; a name no node
// advertises, or a backend that tells no GPUs (Docker), is not checked.
func TestAdmissionGPUs(t *testing.T) {
	live := &Info{Type: InfraKubernetes, AllocatableMilliCPU: 64000, AllocatableMemory: 256 << 30,
		AllocatableGPUs: map[string]int64{"nvidia.com/gpu": 2}, UsedGPUs: map[string]int64{"nvidia.com/gpu": 1}}
	gpu := func(n int64, name string) Change {
		return Change{Infra: InfraKubernetes, Create: true, MilliCPU: 500, CPUKnown: true, Memory: 1 << 30, MemoryKnown: true,
			GPUs: n, GPUResource: name}
	}
	a := NewAdmission(nil, 0)
	if err := a.Admit(gpu(1, "nvidia.com/gpu"), live, 0); err != nil {
		t.Fatalf("1 + 1 live of 2: %v", err)
	}
	err := a.Admit(gpu(1, "nvidia.com/gpu"), live, 0)
	var ae *AdmissionError
	if !errors.As(err, &ae) || ae.Attribute != "kubernetes.overcommit.gpu" {
		t.Fatalf("2 + 1 live of 2: %#v", err)
	}
	for _, want := range []string{"needs 2 nvidia.com/gpu (2 new sessions planned so far) + 1 reserved by live sessions = 3",
		"advertise 2 × overcommit 1 = 2"} {
		if !strings.Contains(ae.Msg, want) {
			t.Errorf("message %q lacks %q", ae.Msg, want)
		}
	}
	// Sessions without GPU, or with another vendor's that no node has, are admitted.
	for _, c := range []Change{gpu(0, "nvidia.com/gpu"), gpu(4, "amd.com/gpu")} {
		if err := a.Admit(c, live, 0); err != nil {
			t.Errorf("%d %s: %v", c.GPUs, c.GPUResource, err)
		}
	}
	// An autoscaled GPU pool: ratio 2 admits 4 on 2 advertised.
	b := NewAdmission(map[InfrastructureType]Overcommit{InfraKubernetes: {CPU: 4, Memory: 1, GPU: 2}}, 0)
	for i := 0; i < 3; i++ {
		if err := b.Admit(gpu(1, "nvidia.com/gpu"), live, 0); err != nil {
			t.Fatalf("ratio 2, session %d: %v", i+1, err)
		}
	}
	if err := b.Admit(gpu(1, "nvidia.com/gpu"), live, 0); err == nil {
		t.Fatal("ratio 2: a 4th new GPU (5 with the live one) on 2 advertised was admitted")
	}
	// Docker tells no GPUs: not checked.
	docker := &Info{Type: InfraDocker, AllocatableMilliCPU: 64000, AllocatableMemory: 256 << 30}
	c := gpu(8, "nvidia.com/gpu")
	c.Infra = InfraDocker
	if err := NewAdmission(nil, 0).Admit(c, docker, 0); err != nil {
		t.Errorf("docker: %v", err)
	}
}
