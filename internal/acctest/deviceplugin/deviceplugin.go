// Package deviceplugin is a fake kubelet device plugin for tests: it advertises a
// number of devices of an extended resource (nvidia.com/gpu) on the node whose kubelet
// it registers with, so that GPU scheduling and quotas can be tested without a GPU.
// It implements the kubelet device plugin API (k8s.io/kubelet/pkg/apis/deviceplugin/
// v1beta1): a gRPC server on a unix socket in the kubelet's device plugin directory,
// registered through the kubelet's Registration service.
package deviceplugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// Dir is the kubelet's device plugin directory. The kubelet's device manager listens
// on Dir/kubelet.sock whatever its --root-dir (pluginapi.KubeletSocket).
var Dir = pluginapi.DevicePluginPath

// Plugin is a running fake device plugin.
type Plugin struct {
	pluginapi.UnimplementedDevicePluginServer

	resource string
	socket   string
	server   *grpc.Server

	mu      sync.Mutex
	devices []*pluginapi.Device
	changed chan struct{} // closed and replaced on every change of devices
	stopped chan struct{}
	stop    sync.Once
	// Allocations counts Allocate calls (one per container that got devices).
	allocations int
}

// Start serves count healthy devices of resource ("nvidia.com/gpu") and registers
// with the kubelet. Stop it when done.
func Start(ctx context.Context, resource string, count int) (*Plugin, error) {
	kubelet := filepath.Join(Dir, filepath.Base(pluginapi.KubeletSocket))
	if _, err := os.Stat(kubelet); err != nil {
		return nil, fmt.Errorf("no kubelet device plugin socket: %w", err)
	}
	name := "nalabo-fake-" + strings.NewReplacer("/", "-", ".", "-").Replace(resource) + fmt.Sprintf("-%d.sock", os.Getpid())
	p := &Plugin{
		resource: resource, socket: filepath.Join(Dir, name),
		changed: make(chan struct{}), stopped: make(chan struct{}),
	}
	for i := range count {
		p.devices = append(p.devices, &pluginapi.Device{ID: fmt.Sprintf("fake-gpu-%d", i), Health: pluginapi.Healthy})
	}
	_ = os.Remove(p.socket)
	lis, err := net.Listen("unix", p.socket)
	if err != nil {
		return nil, err
	}
	p.server = grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(p.server, p)
	go func() { _ = p.server.Serve(lis) }()

	conn, err := grpc.NewClient("unix://"+kubelet, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		p.Stop()
		return nil, err
	}
	defer conn.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(rctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: name, ResourceName: resource,
		Options: &pluginapi.DevicePluginOptions{},
	})
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("register %s with the kubelet: %w", resource, err)
	}
	return p, nil
}

// SetHealthy marks the first n devices healthy and the others unhealthy (the node's
// allocatable count follows within the kubelet's status update).
func (p *Plugin) SetHealthy(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	devs := make([]*pluginapi.Device, len(p.devices))
	for i, d := range p.devices {
		h := pluginapi.Unhealthy
		if i < n {
			h = pluginapi.Healthy
		}
		devs[i] = &pluginapi.Device{ID: d.ID, Health: h}
	}
	p.devices = devs
	close(p.changed)
	p.changed = make(chan struct{})
}

// Allocations is the number of Allocate calls so far.
func (p *Plugin) Allocations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocations
}

// Stop marks every device unhealthy (allocatable drops to 0), stops serving and
// removes the socket; the kubelet then forgets the resource.
func (p *Plugin) Stop() {
	p.stop.Do(func() {
		p.SetHealthy(0)
		time.Sleep(500 * time.Millisecond) // let ListAndWatch send the update
		close(p.stopped)
		p.server.Stop()
		_ = os.Remove(p.socket)
	})
}

// GetDevicePluginOptions: no pre-start call, no preferred allocation.
func (p *Plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

// ListAndWatch sends the devices, and again on every change, until stopped.
func (p *Plugin) ListAndWatch(_ *pluginapi.Empty, s pluginapi.DevicePlugin_ListAndWatchServer) error {
	for {
		p.mu.Lock()
		devs, changed := p.devices, p.changed
		p.mu.Unlock()
		if err := s.Send(&pluginapi.ListAndWatchResponse{Devices: devs}); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-p.stopped:
			return nil
		case <-s.Context().Done():
			return nil
		}
	}
}

// Allocate gives each container an environment variable naming its fake devices
// (what the NVIDIA plugin does with NVIDIA_VISIBLE_DEVICES); nothing is mounted.
func (p *Plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	p.mu.Lock()
	p.allocations++
	p.mu.Unlock()
	out := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		if len(c.DevicesIds) == 0 {
			return nil, errors.New("allocate: no device requested")
		}
		out.ContainerResponses = append(out.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{"NVIDIA_VISIBLE_DEVICES": strings.Join(c.DevicesIds, ",")},
		})
	}
	return out, nil
}

// GetPreferredAllocation is not offered (GetDevicePluginOptions).
func (p *Plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

// PreStartContainer is not called (GetDevicePluginOptions).
func (p *Plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}
