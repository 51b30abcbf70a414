package docker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// GPUs of a docker session: a device request of the NVIDIA driver (what `docker run
// --gpus N` sends). dockerd honours it only with the NVIDIA Container Toolkit installed
// (its nvidia-container-runtime-hook registers the "nvidia" device driver at daemon
// start); without it the container's start fails at once, which gpuStartError turns
// into a diagnostic that says so.

// gpuDriver is the device driver of NVIDIA device requests.
const gpuDriver = "nvidia"

// checkGPUResource refuses, before anything is created, a GPU Docker cannot request.
func checkGPUResource(res workshop.ParsedResources) error {
	if res.GPUs > 0 && res.GPUResource != workshop.DefaultGPUResource {
		return fmt.Errorf("gpu_resource %q: docker sessions get NVIDIA GPUs only (gpu_resource %q)", res.GPUResource, workshop.DefaultGPUResource)
	}
	return nil
}

// withGPUs adds the session's GPUs to the workspace: the device request and the labels
// a read reports them from.
func withGPUs(cfg *container.Config, host *container.HostConfig, res workshop.ParsedResources) {
	if res.GPUs <= 0 {
		return
	}
	host.DeviceRequests = []container.DeviceRequest{{
		Driver: gpuDriver, Count: int(res.GPUs), Capabilities: [][]string{{"gpu"}},
	}}
	cfg.Labels[LabelGPU] = strconv.FormatInt(res.GPUs, 10)
	cfg.Labels[LabelGPUResource] = res.GPUResource
}

// isNoGPUDriver reports dockerd's refusal of a device request it has no driver for
// (`could not select device driver "nvidia" with capabilities: [[gpu]]`).
func isNoGPUDriver(err error) bool {
	return err != nil && strings.Contains(err.Error(), "could not select device driver")
}

// gpuStartError explains a start refused for want of the NVIDIA driver.
func gpuStartError(res workshop.ParsedResources, err error) error {
	if res.GPUs <= 0 || !isNoGPUDriver(err) {
		return err
	}
	return fmt.Errorf("the session asks for %d GPU(s) (resources.gpu) but this Docker host cannot provide them: "+
		"dockerd has no %q device driver (install the NVIDIA Container Toolkit on the host, run `nvidia-ctk runtime configure "+
		"--runtime=docker` and restart dockerd), or set resources.gpu = \"0\": %w", res.GPUs, gpuDriver, err)
}
