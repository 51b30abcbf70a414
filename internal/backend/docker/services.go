package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/go-connections/nat"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/compose"
	"github.com/nalabo/terraform-provider-nalabo/internal/hostpath"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Compose services run beside the workspace: container nalabo-session-<id>-<service>
// on the session network (DNS alias = the service name), with the session's labels plus
// role=service and nalabo.io/service=<name>, and the workspace's security defaults.
// Named volumes are per session: nalabo-session-<id>-<volume>.

// Service labels.
const (
	// LabelService names the Compose service of a container.
	LabelService = workshop.LabelPrefix + "service"
	// LabelOwnCPU and LabelOwnMemory carry a service's own limits (millicores, bytes);
	// a container without them takes a share of the session's budget.
	LabelOwnCPU    = workshop.LabelPrefix + "own-cpu"
	LabelOwnMemory = workshop.LabelPrefix + "own-memory"
	// LabelServices lists, on the workspace, the template's services (comma
	// separated): a session missing one of them is degraded.
	LabelServices = workshop.LabelPrefix + "services"
)

// serviceContainerName is nalabo-session-<id>-<service>.
func serviceContainerName(id, service string) string {
	return workshop.SessionObjectName(id) + "-" + service
}

// sessionVolumeName is nalabo-session-<id>-<volume>.
func sessionVolumeName(id, vol string) string { return workshop.SessionObjectName(id) + "-" + vol }

// serviceSpec is one service to run in a session.
type serviceSpec struct {
	svc   compose.Service
	image string
	share workshop.Share
	// labels are the extra labels of this service's objects (an apply's inventory).
	labels map[string]string
}

// servicePlan is the container configuration of one service.
func (b *Backend) servicePlan(id string, sessionLabels map[string]string, ss serviceSpec, init bool) *workspacePlan {
	s := ss.svc
	netName := b.networkName(id)
	labels := workshop.WithLabels(workshop.WithLabels(sessionLabels, flatten(ss.labels)...),
		workshop.LabelRole, workshop.RoleService,
		LabelService, s.Name,
		workshop.LabelBackend, string(workshop.InfraDocker))
	if s.MilliCPU > 0 {
		labels[LabelOwnCPU] = strconv.FormatInt(s.MilliCPU, 10)
	}
	if s.MemoryBytes > 0 {
		labels[LabelOwnMemory] = strconv.FormatInt(s.MemoryBytes, 10)
	}
	exposed, bindings := nat.PortSet{}, nat.PortMap{}
	for _, p := range s.Ports {
		port := nat.Port(strconv.Itoa(p.Target) + "/" + p.Protocol)
		exposed[port] = struct{}{}
		// Always the backend's bind address, with a host port Docker picks.
		bindings[port] = []nat.PortBinding{{HostIP: b.cfg.BindAddress, HostPort: ""}}
	}
	hostname := s.Hostname
	if hostname == "" {
		hostname = s.Name
	}
	cfg := &container.Config{
		Hostname:     hostname,
		User:         s.User,
		Env:          envList(s.Env),
		Image:        ss.image,
		WorkingDir:   s.WorkingDir,
		Labels:       labels,
		ExposedPorts: exposed,
	}
	if s.Command != nil {
		cfg.Cmd = s.Command
	}
	if s.Entrypoint != nil {
		cfg.Entrypoint = s.Entrypoint
	}
	if h := s.Health; h != nil {
		if h.Disable {
			cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
		} else {
			cfg.Healthcheck = &container.HealthConfig{
				Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries,
			}
		}
	}
	var mounts []mount.Mount
	for _, m := range s.Mounts {
		switch m.Type {
		case compose.MountVolume:
			mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: sessionVolumeName(id, m.Source), Target: m.Target, ReadOnly: m.ReadOnly})
		case compose.MountBind:
			mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		case compose.MountTmpfs:
			mounts = append(mounts, mount.Mount{Type: mount.TypeTmpfs, Target: m.Target})
		}
	}
	pids := b.cfg.PidsLimit
	restart := container.RestartPolicy{Name: container.RestartPolicyMode(strings.SplitN(s.Restart, ":", 2)[0])}
	if parts := strings.SplitN(s.Restart, ":", 2); len(parts) == 2 {
		restart.MaximumRetryCount, _ = strconv.Atoi(parts[1])
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(netName),
		PortBindings:  bindings,
		RestartPolicy: restart,
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{
			"max-size": logMaxSize, "max-file": logMaxFiles,
		}},
		Mounts: mounts,
		Resources: container.Resources{
			NanoCPUs:   ss.share.NanoCPUs,
			Memory:     ss.share.MemoryBytes,
			MemorySwap: ss.share.MemoryBytes,
			PidsLimit:  &pids,
		},
		CapDrop:     []string{"ALL"},
		CapAdd:      append([]string(nil), DefaultCapabilities...),
		SecurityOpt: []string{"no-new-privileges:true"},
	}
	if init {
		host.Init = &init
	}
	return &workspacePlan{
		name:   serviceContainerName(id, s.Name),
		config: cfg,
		host:   host,
		networking: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {Aliases: []string{s.Name}},
		}},
	}
}

func flatten(m map[string]string) []string {
	out := make([]string, 0, 2*len(m))
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// createServiceVolumes creates the per-session named volumes.
func (b *Backend) createServiceVolumes(ctx context.Context, id string, sessionLabels, extra map[string]string, vols []string) error {
	labels := workshop.WithLabels(workshop.WithLabels(sessionLabels, flatten(extra)...),
		workshop.LabelRole, workshop.RoleVolume,
		workshop.LabelBackend, string(workshop.InfraDocker))
	var g errgroup.Group
	for _, v := range vols {
		g.Go(func() error {
			name := sessionVolumeName(id, v)
			if _, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
				return fmt.Errorf("create volume %s: %w", name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// createServices creates the service containers (not started).
func (b *Backend) createServices(ctx context.Context, id string, sessionLabels map[string]string, specs []serviceSpec, init bool) error {
	var g errgroup.Group
	for _, ss := range specs {
		g.Go(func() error {
			plan := b.servicePlan(id, sessionLabels, ss, init)
			if _, err := b.cli.ContainerCreate(ctx, plan.config, plan.host, plan.networking, nil, plan.name); err != nil {
				return fmt.Errorf("create container %s (service %s, image %s): %w", plan.name, ss.svc.Name, ss.image, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// startServices starts the services in depends_on order (each waits for the conditions
// of its dependencies: started, healthy or completed successfully), then waits until
// every one of them is ready. dctx bounds the Docker calls, ctx the waiting.
func (b *Backend) startServices(ctx, dctx context.Context, id string, specs []serviceSpec) error {
	if len(specs) == 0 {
		return nil
	}
	started := make(map[string]chan struct{}, len(specs))
	for _, ss := range specs {
		started[ss.svc.Name] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ss := range specs {
		g.Go(func() error {
			for _, d := range ss.svc.DependsOn {
				ch, ours := started[d.Service]
				if ours {
					select {
					case <-ch:
					case <-gctx.Done():
						return gctx.Err()
					}
				}
				if err := b.waitCondition(gctx, serviceContainerName(id, d.Service), d); err != nil {
					return fmt.Errorf("service %s depends on %s: %w", ss.svc.Name, d.Service, err)
				}
			}
			name := serviceContainerName(id, ss.svc.Name)
			if err := b.cli.ContainerStart(dctx, name, container.StartOptions{}); err != nil {
				return fmt.Errorf("start container %s (service %s): %w", name, ss.svc.Name, err)
			}
			close(started[ss.svc.Name])
			_, err := b.waitContainer(gctx, name, "service "+ss.svc.Name, serviceReadiness)
			return err
		})
	}
	return g.Wait()
}

// waitCondition waits until a dependency meets a depends_on condition.
func (b *Backend) waitCondition(ctx context.Context, name string, d compose.Dependency) error {
	var ready func(container.InspectResponse) (bool, error)
	switch d.Condition {
	case compose.ConditionHealthy:
		ready = func(ins container.InspectResponse) (bool, error) {
			if ins.State != nil && (ins.State.Health == nil || ins.State.Health.Status == container.NoHealthcheck) {
				return false, errors.New("condition service_healthy, but it has no healthcheck")
			}
			return readiness(ins)
		}
	case compose.ConditionCompleted:
		ready = func(ins container.InspectResponse) (bool, error) {
			st := ins.State
			if st == nil || st.Running || st.Restarting || st.Status == container.StateCreated {
				return false, nil
			}
			if st.ExitCode != 0 {
				return false, fmt.Errorf("condition service_completed_successfully, but it exited with code %d", st.ExitCode)
			}
			return true, nil
		}
	default:
		return nil // service_started: it was started
	}
	_, err := b.waitContainer(ctx, name, "dependency "+d.Service, ready)
	return err
}

// serviceReadiness: ready when running (and healthy when it has a healthcheck), or
// exited with code 0 when it does not restart (a one-shot service that completed).
func serviceReadiness(ins container.InspectResponse) (bool, error) {
	if st := ins.State; st != nil && st.Status == container.StateExited && st.ExitCode == 0 && ins.RestartCount == 0 &&
		(ins.HostConfig == nil || ins.HostConfig.RestartPolicy.Name == "" || ins.HostConfig.RestartPolicy.Name == container.RestartPolicyDisabled) {
		return true, nil
	}
	return readiness(ins)
}

// templateServices parses a template's Compose file and returns the services to run
// with their images (nil for a template without one).
func templateServices(ctx context.Context, t *workshop.Template, paths *hostpath.Policy) (*compose.Project, error) {
	if t.Compose == "" {
		return nil, nil
	}
	p, err := compose.Parse(ctx, t.Compose, compose.Options{ProjectName: t.Name, Dir: t.ComposeDir, Paths: paths})
	if err != nil {
		return nil, fmt.Errorf("template %s: compose: %w", t.ID, err)
	}
	return p, nil
}

// sessionContainers lists the session's workspace and service containers by label.
func (b *Backend) sessionContainers(ctx context.Context, id string) ([]container.Summary, error) {
	f := filters.NewArgs(
		filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue),
		filters.Arg("label", workshop.LabelSession+"="+id),
	)
	ctrs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers of session %s: %w", id, err)
	}
	return ctrs, nil
}

// claimOf is a container's claim on the session budget, from its labels.
func claimOf(c container.Summary) workshop.Claim {
	cl := workshop.Claim{Name: containerName(c)}
	cl.MilliCPU, _ = strconv.ParseInt(c.Labels[LabelOwnCPU], 10, 64)
	cl.MemoryBytes, _ = strconv.ParseInt(c.Labels[LabelOwnMemory], 10, 64)
	return cl
}

// rebalance shares the session's budget again between its containers (after services
// were added or removed, or the budget changed): extra claims (containers about to be
// created) are counted in and their shares returned. The workspace comes first.
func (b *Backend) rebalance(ctx context.Context, id string, budget workshop.ParsedResources, extra []workshop.Claim, exclude map[string]bool, apply bool) (map[string]workshop.Share, error) {
	ctrs, err := b.sessionContainers(ctx, id)
	if err != nil {
		return nil, err
	}
	ws := workshop.SessionObjectName(id)
	claims := []workshop.Claim{{Name: ws}}
	for _, c := range ctrs {
		n := containerName(c)
		if n == ws || exclude[n] {
			continue
		}
		claims = append(claims, claimOf(c))
	}
	claims = append(claims, extra...)
	shares, err := workshop.Allocate(budget, claims)
	if err != nil || !apply {
		return shares, err
	}
	var g errgroup.Group
	for _, c := range claims[:len(claims)-len(extra)] {
		sh := shares[c.Name]
		g.Go(func() error {
			_, err := b.cli.ContainerUpdate(ctx, c.Name, container.UpdateConfig{Resources: container.Resources{
				NanoCPUs: sh.NanoCPUs, Memory: sh.MemoryBytes, MemorySwap: sh.MemoryBytes,
			}})
			if isNotFound(err) || (err != nil && strings.Contains(err.Error(), "marked for removal")) {
				return nil // gone, or being removed
			}
			if err != nil {
				return fmt.Errorf("update limits of container %s: %w", c.Name, err)
			}
			return nil
		})
	}
	return shares, g.Wait()
}
