package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// cleanupTimeout bounds the removal of a half-created session (on a fresh context: the
// create's own context may be what ended).
const cleanupTimeout = 60 * time.Second

// mutationTimeout bounds one create step that runs past the caller's context.
const mutationTimeout = 2 * time.Minute

// CreateSession creates the session's network, lease, workspace volume and workspace
// container, starts it and waits until it is ready. On any failure (ctx included) it
// removes everything labelled with the session before returning the error.
func (b *Backend) CreateSession(ctx context.Context, spec *workshop.SessionSpec) (*workshop.Session, error) {
	res, err := checkSessionSpec(spec)
	if err != nil {
		return nil, err
	}
	spec = withExpiry(spec)
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		return nil, err
	}
	s, err := b.createSession(ctx, spec, res, facts)
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
	if spec == nil {
		return workshop.ParsedResources{}, errors.New("create session: no spec given")
	}
	if err := workshop.ValidateSessionID(spec.ID); err != nil {
		return workshop.ParsedResources{}, fmt.Errorf("create session: %w", err)
	}
	if spec.Template == nil || spec.Template.ID == "" {
		return workshop.ParsedResources{}, fmt.Errorf("create session %s: the template is not applied (no template ID)", spec.ID)
	}
	if spec.Template.Infrastructure != workshop.InfraDocker {
		return workshop.ParsedResources{}, fmt.Errorf("create session %s: template %s is a %q template, not a docker one",
			spec.ID, spec.Template.ID, spec.Template.Infrastructure)
	}
	res, err := effectiveResources(spec).Parse()
	if err != nil {
		return res, fmt.Errorf("create session %s: resources: %w", spec.ID, err)
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
func (b *Backend) createSession(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources, facts *daemonFacts) (*workshop.Session, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
	defer cancel()
	// The network and both volumes do not depend on each other. No errgroup context:
	// one failing step must not cut the others short (see above).
	var g errgroup.Group
	g.Go(func() error { _, err := b.createNetwork(dctx, spec); return err })
	g.Go(func() error { _, err := b.createLease(dctx, spec.ID, spec.Labels(), spec.ExpiresAt, 1); return err })
	g.Go(func() error { return b.createWorkspaceVolume(dctx, spec) })
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := b.createWorkspace(dctx, spec, res, facts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := b.cli.ContainerStart(dctx, name, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("start container %s: %w", name, err)
	}
	ins, err := b.waitReady(ctx, name)
	if err != nil {
		return nil, err
	}
	return b.readSession(ctx, spec.ID, &ins)
}

func (b *Backend) createWorkspaceVolume(ctx context.Context, spec *workshop.SessionSpec) error {
	name := workspaceVolumeName(spec.ID)
	labels := workshop.WithLabels(spec.Labels(),
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
func (b *Backend) createWorkspace(ctx context.Context, spec *workshop.SessionSpec, res workshop.ParsedResources, facts *daemonFacts) (string, error) {
	mode := facts.storageSize.Load()
	plan, err := b.planWorkspace(spec, res, mode != storageSizeUnsupported, facts.init)
	if err != nil {
		return "", err
	}
	_, err = b.cli.ContainerCreate(ctx, plan.config, plan.host, plan.networking, nil, plan.name)
	if err != nil && mode == storageSizeTry && isStorageOptRefused(err) {
		facts.storageSize.CompareAndSwap(storageSizeTry, storageSizeUnsupported)
		if plan, err = b.planWorkspace(spec, res, false, facts.init); err != nil {
			return "", err
		}
		_, err = b.cli.ContainerCreate(ctx, plan.config, plan.host, plan.networking, nil, plan.name)
	} else if err == nil && mode == storageSizeTry {
		facts.storageSize.CompareAndSwap(storageSizeTry, storageSizeSupported)
	}
	if err != nil {
		return "", fmt.Errorf("create container %s (image %s): %w", plan.name, plan.config.Image, err)
	}
	return plan.name, nil
}

// isStorageOptRefused reports the daemon's refusal of a size cap on its storage driver.
func isStorageOptRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "storage-opt") || strings.Contains(msg, "pquota") ||
		strings.Contains(msg, "Storage option") || strings.Contains(msg, "storage option")
}
