package docker

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestGPUDockerPlan: the workspace of a GPU session carries the NVIDIA device request
// and the labels a read reports; a session without GPU carries none.
func TestGPUDockerPlan(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tpl := &workshop.Template{Name: "t", ID: "docker.t.0123", Infrastructure: workshop.InfraDocker, Workspace: workshop.Workspace{Image: "i"}}
	spec := &workshop.SessionSpec{ID: "abcd1234", Template: tpl, Resources: workshop.Resources{GPU: "2"}}
	res, err := checkSessionSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.planWorkspace(spec, res, false, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []container.DeviceRequest{{Driver: "nvidia", Count: 2, Capabilities: [][]string{{"gpu"}}}}
	if !reflect.DeepEqual(p.host.DeviceRequests, want) || p.config.Labels[LabelGPU] != "2" || p.config.Labels[LabelGPUResource] != "nvidia.com/gpu" {
		t.Fatalf("device requests %+v, labels %v", p.host.DeviceRequests, p.config.Labels)
	}
	// Positive control: no GPU, no request.
	spec.Resources.GPU = "0"
	res, _ = checkSessionSpec(spec)
	if p, _ = b.planWorkspace(spec, res, false, false); p.host.DeviceRequests != nil || p.config.Labels[LabelGPU] != "" {
		t.Fatalf("gpu 0: %+v %v", p.host.DeviceRequests, p.config.Labels)
	}
	// Docker requests NVIDIA GPUs only.
	spec.Resources = workshop.Resources{GPU: "1", GPUResource: "amd.com/gpu"}
	if _, err := checkSessionSpec(spec); err == nil || !strings.Contains(err.Error(), "NVIDIA GPUs only") {
		t.Fatalf("amd.com/gpu: %v", err)
	}
}

// TestGPUDockerDeviceRequest against the real daemon (which has no NVIDIA Container
// Toolkit here): the created workspace carries the device request (inspect), its start
// fails with dockerd's own refusal, and CreateSession turns that into a clear error at
// once and removes what it created. Positive control: the same template with gpu "0"
// creates a working session.
func TestGPUDockerDeviceRequest(t *testing.T) {
	b := newTestBackend(t)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "gpu-dtest", Workspace: workshop.Workspace{Image: imageShell1},
		Resources: workshop.Resources{GPU: "1"}})

	// The request as created, read back by inspect.
	spec := withExpiry(newSpec(tpl, "gpu-inspect"))
	t.Cleanup(func() {
		if err := b.removeSession(context.Background(), spec.ID); err != nil {
			t.Errorf("remove %s: %v", spec.ID, err)
		}
	})
	res, err := checkSessionSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 2*time.Minute)
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if net, err := b.createNetwork(ctx, spec); err != nil || net != b.networkName(spec.ID) {
		t.Fatalf("create network: %q, %v", net, err)
	}
	if err := b.createWorkspaceVolume(ctx, spec); err != nil {
		t.Fatal(err)
	}
	name, err := b.createWorkspace(ctx, spec, res, facts, workshop.Share{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := b.cli.ContainerInspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	want := []container.DeviceRequest{{Driver: "nvidia", Count: 1, Capabilities: [][]string{{"gpu"}}}}
	if !reflect.DeepEqual(ins.HostConfig.DeviceRequests, want) {
		t.Fatalf("inspect: device requests %+v, want %+v", ins.HostConfig.DeviceRequests, want)
	}
	startErr := b.cli.ContainerStart(ctx, name, container.StartOptions{})
	if startErr == nil {
		t.Skip("this Docker host has the NVIDIA driver: the no-driver path cannot be tested here")
	}
	if !isNoGPUDriver(startErr) {
		t.Fatalf("start without the NVIDIA driver: %v, want dockerd's \"could not select device driver\"", startErr)
	}
	t.Logf("dockerd: %v", startErr)

	// Through CreateSession: a clear error, fast, nothing left.
	spec2 := newSpec(tpl, "gpu-create")
	start := time.Now()
	_, err = b.CreateSession(testCtx(t, 2*time.Minute), spec2)
	took := time.Since(start)
	if err == nil {
		deleteAndCheck(t, b, spec2.ID)
		t.Fatal("a GPU session started on a host without the NVIDIA driver")
	}
	for _, w := range []string{"asks for 1 GPU(s) (resources.gpu)", "NVIDIA Container Toolkit", `resources.gpu = "0"`, "could not select device driver"} {
		wantContains(t, err.Error(), w, "create error")
	}
	if took > time.Minute {
		t.Errorf("the refusal took %s", took)
	}
	t.Logf("refused in %s: %v", took.Round(time.Millisecond), err)
	if left := leftovers(t, b, spec2.ID); len(left) > 0 {
		t.Errorf("a refused GPU session left %v", left)
	}

	// Positive control: the same template without GPU runs.
	spec3 := newSpec(tpl, "gpu-none")
	spec3.Resources.GPU = "0"
	s := createSession(t, b, spec3)
	if s.Resources.GPU != "" {
		t.Errorf("gpu 0 session reports gpu %q", s.Resources.GPU)
	}
}
