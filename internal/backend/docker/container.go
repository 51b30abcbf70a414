package docker

import (
	"fmt"
	"path"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// DefaultCapabilities are the only Linux capabilities a workspace keeps (every other one
// is dropped): what package managers and everyday tools need to install software, change
// file ownership, switch users and bind low ports inside the container. Not included,
// among others: NET_RAW (raw sockets, ping), NET_ADMIN, SYS_ADMIN, SYS_PTRACE, MKNOD,
// AUDIT_WRITE, SYS_CHROOT. A Docker-in-Docker template runs privileged instead and keeps
// every capability.
// Compose services get the same list (workshop.AllowedCapabilities; their cap_add may
// only name these).
var DefaultCapabilities = workshop.AllowedCapabilities

// DefaultWorkingDir is the workspace's working directory (and its volume's mount point)
// when the template gives none.
const DefaultWorkingDir = "/workspace"

// WorkspaceAlias is the DNS name of the workspace on its session network.
const WorkspaceAlias = "workspace"

// Log rotation of session containers (json-file driver).
const (
	logMaxSize  = "10m"
	logMaxFiles = "2"
)

// workspaceVolumeName is nalabo-session-<id>-workspace.
func workspaceVolumeName(id string) string { return workshop.SessionObjectName(id) + "-workspace" }

// workingDir is the template's working directory or the default.
func workingDir(t *workshop.Template) (string, error) {
	wd := t.Workspace.WorkingDir
	if wd == "" {
		return DefaultWorkingDir, nil
	}
	if !path.IsAbs(wd) || path.Clean(wd) == "/" {
		return "", fmt.Errorf("template %s: working_dir %q must be an absolute path other than /", t.Name, wd)
	}
	return path.Clean(wd), nil
}

// workspacePlan is everything ContainerCreate needs for a session's workspace.
type workspacePlan struct {
	name       string
	config     *container.Config
	host       *container.HostConfig
	networking *network.NetworkingConfig
}

// planWorkspace turns a session spec into the workspace container's configuration.
// storageSize adds the StorageOpt size cap; init runs docker-init (tini) as PID 1.
func (b *Backend) planWorkspace(spec *workshop.SessionSpec, res workshop.ParsedResources, storageSize, init bool) (*workspacePlan, error) {
	t := spec.Template
	wd, err := workingDir(t)
	if err != nil {
		return nil, err
	}
	netName := b.networkName(spec.ID)
	exposed, bindings := b.portsOf(t.Workspace.Ports)
	eff := effectiveResources(spec)
	labels := workshop.WithLabels(spec.Labels(),
		workshop.LabelRole, workshop.RoleWorkspace,
		workshop.LabelTemplateID, t.ID,
		workshop.LabelBackend, string(workshop.InfraDocker),
		LabelStorage, eff.Storage,
		LabelStorageEnforced, strconv.FormatBool(storageSize),
		LabelCPU, workshop.FormatMilliCPU(res.MilliCPU),
		LabelMemory, workshop.FormatBytes(res.MemoryBytes),
	)
	cfg := &container.Config{
		Hostname:     "nalabo-" + spec.ID,
		User:         t.Workspace.User,
		Env:          envList(t.Workspace.Env),
		Cmd:          t.Workspace.Command,
		Image:        t.WorkspaceImage(),
		WorkingDir:   wd,
		Labels:       labels,
		ExposedPorts: exposed,
	}
	pids := b.cfg.PidsLimit
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(netName),
		PortBindings:  bindings,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
			"max-size": logMaxSize, "max-file": logMaxFiles,
		}},
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: workspaceVolumeName(spec.ID), Target: wd}},
		Resources: container.Resources{
			NanoCPUs:   res.MilliCPU * 1e6,
			Memory:     res.MemoryBytes,
			MemorySwap: res.MemoryBytes, // no swap
			PidsLimit:  &pids,
		},
	}
	if t.DockerInDocker {
		// Opt-in, documented risk: a privileged container can take over the host.
		host.Privileged = true
	} else {
		host.CapDrop = []string{"ALL"}
		host.CapAdd = append([]string(nil), DefaultCapabilities...)
		host.SecurityOpt = []string{"no-new-privileges:true"}
	}
	if init {
		host.Init = &init
	}
	withGPUs(cfg, host, res)
	if storageSize && res.StorageBytes > 0 {
		host.StorageOpt = map[string]string{"size": strconv.FormatInt(res.StorageBytes, 10)}
	}
	return &workspacePlan{
		name:   workshop.SessionObjectName(spec.ID),
		config: cfg,
		host:   host,
		networking: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {Aliases: []string{WorkspaceAlias}},
		}},
	}, nil
}

// portsOf publishes container ports on the bind address; Docker picks the host ports.
func (b *Backend) portsOf(ports []int) (nat.PortSet, nat.PortMap) {
	if len(ports) == 0 {
		return nil, nil
	}
	set, bindings := nat.PortSet{}, nat.PortMap{}
	for _, p := range ports {
		port := nat.Port(strconv.Itoa(p) + "/tcp")
		set[port] = struct{}{}
		bindings[port] = []nat.PortBinding{{HostIP: b.cfg.BindAddress, HostPort: ""}}
	}
	return set, bindings
}

// effectiveResources are the spec's resources over the template's and the Docker
// defaults (the provider normally sends them complete).
func effectiveResources(spec *workshop.SessionSpec) workshop.Resources {
	return spec.EffectiveResources(workshop.InfraDocker)
}
