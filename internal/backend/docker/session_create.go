package docker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/compose"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// cleanupTimeout bounds the removal of a half-created session (on a fresh context: the
// create's own context may be what ended). Generous: a daemon under heavy load (a class
// of 40 on 2 cores) took over a minute, and a cut-short cleanup leaves an orphan.
const cleanupTimeout = 3 * time.Minute

// mutationTimeout bounds one create step that runs past the caller's context.
const mutationTimeout = 2 * time.Minute

// maxCreating is how many sessions run their creating calls at once (see createSession).
const maxCreating = 16

// CreateSession creates the session's network, workspace volume and workspace
// container, starts it and waits until it is ready. On any failure (ctx included) it
// removes everything labelled with the session before returning the error.
func (b *Backend) CreateSession(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	defer workshop.Hold()() // the process waits for the create and its cleanup before exiting
	res, err := checkSessionSpec(spec)
	if err != nil {
		return nil, err
	}
	defer b.reads.mutation(spec.ID)()
	spec = withExpiry(spec)
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkHostCapacity(facts, res); err != nil {
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	paths, err := b.pathPolicy(ctx)
	if err != nil {
		return nil, err
	}
	// Services and the budget are checked before anything is created; bind-mount
	// sources are checked again (a symlink may have changed since the template).
	proj, err := templateServices(ctx, spec.Template, paths)
	if err != nil {
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	shares, err := workshop.Allocate(res, compose.Claims(proj))
	if err != nil {
		return nil, fmt.Errorf("create session %s: the resources (cpu %s, memory %s) do not fit the template's services: %w",
			spec.ID, workshop.FormatMilliCPU(res.MilliCPU), workshop.FormatBytes(res.MemoryBytes), err)
	}
	s, err := b.createSession(ctx, spec, res, facts, proj, shares)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := b.removeSession(cctx, spec.ID); cerr != nil {
			err = fmt.Errorf("%w\n(removing what was created also failed: %v)", err, cerr)
		}
		return nil, fmt.Errorf("create session %s: %w", spec.ID, err)
	}
	return s, nil
}

// checkSessionSpec checks what CreateSession needs and parses the resources.
func checkSessionSpec(spec *workshop.SessionSpec) (workshop.ParsedResources, error) {
	res, err := workshop.CheckSessionSpec(spec, workshop.InfraDocker)
	if err != nil {
		return res, err
	}
	if err := checkGPUResource(res); err != nil {
		return res, fmt.Errorf("create session %s: resources: %w", spec.ID, err)
	}
	if err := spec.Persistence.Validate(); err != nil {
		return res, fmt.Errorf("create session %s: persistence: %w", spec.ID, err)
	}
	return res, nil
}

// withExpiry returns spec with ExpiresAt set (from Duration, default 4h) when it is
// zero; the caller's spec is not modified.
func withExpiry(spec *workshop.SessionSpec) *workshop.SessionSpec {
	if !spec.ExpiresAt.IsZero() {
		return spec
	}
	c := *spec
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	d := c.Duration
	if d <= 0 {
		d, _ = workshop.ParseSessionDuration(workshop.DefaultDuration)
	}
	c.ExpiresAt = c.CreatedAt.Add(d)
	return &c
}

// createSession runs the steps of a create. Each call that creates something runs to
// its end even when ctx ends meanwhile (a cancelled HTTP request does not stop the
// daemon, which would then create the object after the cleanup looked for it); ctx is
// checked between the steps and bounds the wait for readiness.
func (b *Backend) createSession(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources, facts *daemonFacts,
	proj *compose.Project, shares map[string]workshop.Share) (*workshop.Session, error) {
	// The creating calls of at most maxCreating sessions at once: the daemon serialises
	// network and endpoint creation, and a class of 200 queued inside it would spend
	// each call's mutationTimeout waiting. Queued here, a create waits on its own ctx.
	select {
	case b.createSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	release := func() { once.Do(func() { <-b.createSlots }) }
	defer release()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	defer cancel()
	var services []serviceSpec
	if proj != nil {
		for _, svc := range proj.Services {
			services = append(services, serviceSpec{svc: svc, image: serviceImageRef(spec.Template, svc), share: shares[svc.Name]})
		}
	}
	wsShare := shares[compose.WorkspaceClaim]
	// The network and both volumes do not depend on each other. No errgroup context:
	// one failing step must not cut the others short (see above).
	var g errgroup.Group
	g.Go(func() error { _, err := b.createNetwork(dctx, spec); return err })
	g.Go(func() error { return b.ensureEgress(dctx, spec.Template) })
	g.Go(func() error { return b.createWorkspaceVolume(dctx, spec) })
	if proj != nil && len(proj.Volumes) > 0 {
		g.Go(func() error { return b.createServiceVolumes(dctx, spec.ID, spec.Labels(), nil, proj.Volumes) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var name string
	var names []string
	for _, ss := range services {
		names = append(names, ss.svc.Name)
	}
	g = errgroup.Group{}
	g.Go(func() (err error) {
		name, err = b.createWorkspace(dctx, spec, res, facts, wsShare, names)
		return err
	})
	if len(services) > 0 {
		g.Go(func() error { return b.createServices(dctx, spec.ID, spec.Labels(), services, facts.init) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err := b.cli.ContainerStart(dctx, name, container.StartOptions{})
	release()
	if err != nil {
		return nil, fmt.Errorf("start container %s: %w", name, gpuStartError(res, err))
	}
	var ins container.InspectResponse
	g2, gctx := errgroup.WithContext(ctx)
	g2.Go(func() (err error) { ins, err = b.waitReady(gctx, name); return err })
	g2.Go(func() error { return b.startServices(gctx, dctx, spec.ID, services) })
	if err := g2.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// No lease at create: the expiry is the workspace's label until an update changes
	// it (session_update.go). A session is complete once its containers have started
	// (sessionIncomplete); nothing after this point may fail on ctx.
	if len(services) == 0 && (proj == nil || len(proj.Volumes) == 0) {
		// A plain session is what was just created: the network holds the workspace
		// only, the workspace volume is its one volume. No need to read them back.
		return b.sessionFromParts(spec.ID, sessionParts{
			ctr: &ins,
			net: &network.Inspect{},
			vols: []*volume.Volume{{Name: workspaceVolumeName(spec.ID), Labels: workshop.WithLabels(objectLabels(spec),
				workshop.LabelRole, workshop.RoleVolume)}},
		}, time.Now()), nil
	}
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	defer lcancel()
	return b.readSession(lctx, spec.ID, &ins)
}

// objectLabels are the session's labels plus its template ID: every object of a
// session, not only its workspace, tells which template it belongs to, so that a
// re-apply finds what an interrupted create left (SessionsOf).
func objectLabels(spec *workshop.SessionSpec) map[string]string {
	return workshop.WithLabels(spec.Labels(), workshop.LabelTemplateID, spec.Template.ID)
}

// createWorkspaceVolume creates nalabo-session-<id>-workspace.
func (b *Backend) createWorkspaceVolume(ctx context.Context, spec *workshop.SessionSpec) error {
	name := workspaceVolumeName(spec.ID)
	labels := workshop.WithLabels(objectLabels(spec),
		workshop.LabelRole, workshop.RoleVolume,
		workshop.LabelBackend, string(workshop.InfraDocker))
	if _, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	return nil
}

// createWorkspace creates the workspace container. Where the storage driver may cap
// the writable layer only with a mount option the daemon's info does not show
// (overlay2 on xfs needs pquota), the first create tries and remembers the answer.
func (b *Backend) createWorkspace(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources, facts *daemonFacts, share workshop.Share, services []string) (string, error) {
	mode := facts.storageSize.Load()
	plan, err := b.planWorkspace(spec, res, mode != storageSizeUnsupported, facts.init)
	if err != nil {
		return "", err
	}
	withShare(plan, share, services)
	_, err = b.cli.ContainerCreate(ctx, plan.config, plan.host, plan.networking, nil, plan.name)
	if err != nil && mode == storageSizeTry && isStorageOptRefused(err) {
		facts.storageSize.CompareAndSwap(storageSizeTry, storageSizeUnsupported)
		if plan, err = b.planWorkspace(spec, res, false, facts.init); err != nil {
			return "", err
		}
		withShare(plan, share, services)
		_, err = b.cli.ContainerCreate(ctx, plan.config, plan.host, plan.networking, nil, plan.name)
	} else if err == nil && mode == storageSizeTry {
		facts.storageSize.CompareAndSwap(storageSizeTry, storageSizeSupported)
	}
	if err != nil {
		return "", fmt.Errorf("create container %s (image %s): %w", plan.name, plan.config.Image, err)
	}
	return plan.name, nil
}

// withShare limits the workspace to its share of the budget (the whole budget when the
// session has no services).
func withShare(plan *workspacePlan, share workshop.Share, services []string) {
	if len(services) > 0 {
		plan.config.Labels[LabelServices] = strings.Join(services, ",")
	}
	if share.NanoCPUs > 0 {
		plan.host.NanoCPUs = share.NanoCPUs
	}
	if share.MemoryBytes > 0 {
		plan.host.Memory, plan.host.MemorySwap = share.MemoryBytes, share.MemoryBytes
	}
}

// isStorageOptRefused reports the daemon's refusal of a size cap on its storage driver.
func isStorageOptRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "storage-opt") || strings.Contains(msg, "pquota") ||
		strings.Contains(msg, "Storage option") || strings.Contains(msg, "storage option")
}
