package swarm

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// cleanupTimeout bounds the removal after a failed create (on a detached context).
const cleanupTimeout = 3 * time.Minute

// mutationTimeout bounds one create call that runs past the caller's context.
const mutationTimeout = 2 * time.Minute

// restartDelay spaces a crashing workspace's restarts.
const restartDelay = 2 * time.Second

// CreateSession creates the session's overlay network and workspace service and waits
// until Swarm runs its task. On any failure it removes what it created.
func (b *Backend) CreateSession(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	defer workshop.Hold()()
	res, err := checkSessionSpec(spec)
	if err != nil {
		return nil, err
	}
	spec = docker.WithExpiry(spec)
	if _, err := b.self(ctx); err != nil {
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	if err := b.createSession(ctx, spec, res); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		// What can be removed is, even when a node's engine is unknown (that is then
		// part of the error).
		engines, eerr := b.sessionEngines(cctx, spec.ID)
		if eerr != nil {
			engines, _ = b.allEngines()
		}
		cerr := b.removeSession(cctx, spec.ID, engines)
		if cerr == nil {
			cerr = eerr
		}
		if cerr != nil {
			err = fmt.Errorf("%w\n(removing what was created also failed: %v)", err, cerr)
		}
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	return b.GetSession(ctx, spec.ID)
}

// checkSessionSpec checks what CreateSession needs and parses the resources.
func checkSessionSpec(spec *workshop.SessionSpec) (workshop.ParsedResources, error) {
	return workshop.CheckSessionSpec(spec, workshop.InfraSwarm)
}

// effectiveResources are the spec's resources over the template's and the defaults.
func effectiveResources(spec *workshop.SessionSpec) workshop.Resources {
	return spec.EffectiveResources(workshop.InfraSwarm)
}

// createSession creates the network, then the service, and waits for its task. The
// creating calls run on a detached context (a cancelled request does not stop the
// manager, which would create the object after the cleanup looked for it).
func (b *Backend) createSession(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources) error {
	svc, err := b.serviceSpec(spec, res)
	if err != nil {
		return err
	}
	// A refused registry login fails the create before anything exists.
	auth, err := b.checkRegistryLogin(ctx, svc.TaskTemplate.ContainerSpec.Image)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	defer cancel()
	if err := b.createNetwork(dctx, spec); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	created, err := b.cli.ServiceCreate(dctx, svc, createOptions(auth))
	if err != nil {
		return fmt.Errorf("create service %s: %w", svc.Name, err)
	}
	if err := b.waitTask(ctx, spec.ID, created.ID, nil); err != nil {
		return err
	}
	// Complete: drop the creating label (a label change does not restart the task).
	return b.updateService(dctx, spec.ID, func(s *swarm.ServiceSpec) { delete(s.Labels, LabelCreating) })
}

// serviceSpec is the workspace service of a session.
func (b *Backend) serviceSpec(spec *workshop.SessionSpec, res workshop.ParsedResources) (swarm.ServiceSpec, error) {
	t := spec.Template
	wd, err := docker.WorkingDir(t)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	name := workshop.SessionObjectName(spec.ID)
	common := workshop.WithLabels(spec.Labels(),
		workshop.LabelTemplateID, t.ID,
		workshop.LabelBackend, string(workshop.InfraSwarm))
	serviceLabels := workshop.WithLabels(common,
		workshop.LabelRole, workshop.RoleWorkspace,
		LabelCPU, workshop.FormatMilliCPU(res.MilliCPU),
		LabelMemory, workshop.FormatBytes(res.MemoryBytes),
		LabelCreating, "true")
	// The container's labels never change (a change would restart the task): the
	// expiry is the service's label.
	containerLabels := workshop.WithLabels(common, workshop.LabelRole, workshop.RoleWorkspace)
	delete(containerLabels, workshop.LabelExpiresAt)
	volumeLabels := workshop.WithLabels(common, workshop.LabelRole, workshop.RoleVolume)
	delete(volumeLabels, workshop.LabelExpiresAt)
	init := true
	replicas := uint64(1)
	return swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: serviceLabels},
		Mode:        swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image:    t.WorkspaceImage(),
				Labels:   containerLabels,
				Args:     t.Workspace.Command, // like docker run's CMD: the entrypoint stays
				Hostname: "nalabo-" + spec.ID,
				Env:      docker.EnvList(t.Workspace.Env),
				Dir:      wd,
				User:     t.Workspace.User,
				Init:     &init,
				Mounts: []mount.Mount{{
					Type: mount.TypeVolume, Source: name + "-workspace", Target: wd,
					VolumeOptions: &mount.VolumeOptions{Labels: volumeLabels},
				}},
				// Not privileged: every capability dropped but the allow-list. Swarm
				// has no no-new-privileges before API 1.50 (Engine 28): see DESIGN.md.
				CapabilityDrop: []string{"ALL"},
				CapabilityAdd:  append([]string(nil), workshop.AllowedCapabilities...),
			},
			Resources: &swarm.ResourceRequirements{
				Limits: &swarm.Limit{NanoCPUs: res.MilliCPU * 1e6, MemoryBytes: res.MemoryBytes, Pids: b.cfg.PidsLimit},
				// Reserved as limited: Swarm places a session only where its limits fit,
				// and says "insufficient resources" instead of overcommitting a node.
				Reservations: &swarm.Resources{NanoCPUs: res.MilliCPU * 1e6, MemoryBytes: res.MemoryBytes},
			},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny, Delay: ptr(restartDelay)},
			Placement:     &swarm.Placement{Constraints: append([]string(nil), t.PlacementConstraints...)},
			Networks:      []swarm.NetworkAttachmentConfig{{Target: b.networkName(spec.ID), Aliases: []string{"workspace"}}},
			LogDriver: &swarm.Driver{Name: "json-file", Options: map[string]string{
				"max-size": "10m", "max-file": "2",
			}},
		},
	}, nil
}

func ptr[T any](v T) *T { return &v }

// updateService applies change to the session's service spec (retrying on a version
// conflict). The update carries the current login of the image's registry (a changed
// password reaches the tasks Swarm starts from now on); a refused one fails it.
func (b *Backend) updateService(ctx context.Context, id string, change func(*swarm.ServiceSpec)) error {
	name := workshop.SessionObjectName(id)
	auth, authFor := "", ""
	for attempt := 0; ; attempt++ {
		svc, _, err := b.cli.ServiceInspectWithRaw(ctx, name, swarm.ServiceInspectOptions{})
		if err != nil {
			if docker.IsNotFound(err) {
				return fmt.Errorf("session %s: service %s is gone: %w", id, name, workshop.ErrNotFound)
			}
			return fmt.Errorf("inspect service %s: %w", name, err)
		}
		s := svc.Spec
		change(&s)
		if cs := s.TaskTemplate.ContainerSpec; cs != nil && cs.Image != authFor {
			if auth, err = b.checkRegistryLogin(ctx, cs.Image); err != nil {
				return fmt.Errorf("update service %s: %w", name, err)
			}
			authFor = cs.Image
		}
		_, err = b.cli.ServiceUpdate(ctx, svc.ID, svc.Version, s, updateOptions(auth))
		if err == nil {
			return nil
		}
		if attempt < 3 && (docker.IsConflict(err) || isOutOfSequence(err)) {
			continue
		}
		return fmt.Errorf("update service %s: %w", name, err)
	}
}
