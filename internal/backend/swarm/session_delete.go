package swarm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// deleteTimeout bounds a delete that runs past the caller's context.
const deleteTimeout = 3 * time.Minute

// DeleteSession removes the session's services, then (once their task containers are
// gone from every engine) its network and volumes, and waits until nothing labelled
// with it is left. A missing session is not an error.
func (b *Backend) DeleteSession(ctx context.Context, id string) error {
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	defer workshop.Hold()()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	// Refuse before removing anything when a node's volume would be left behind: with
	// the service gone, nothing would say which node holds it.
	engines, err := b.sessionEngines(dctx, id)
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	if err := b.removeSession(dctx, id, engines); err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	return nil
}

// sessionEngines are the engines that may hold the session's task containers and
// volumes: the manager's, every node_hosts engine, and the engine of each node its tasks
// ran on. A node without a configured engine is an error naming it (a node that left
// the swarm took its volumes along).
func (b *Backend) sessionEngines(ctx context.Context, id string) ([]*engine, error) {
	engines, err := b.allEngines()
	if err != nil {
		return nil, err
	}
	f := filters.NewArgs(filters.Arg("service", workshop.SessionObjectName(id)))
	tasks, err := b.cli.TaskList(ctx, swarm.TaskListOptions{Filters: f})
	if err != nil && !docker.IsNotFound(err) {
		return nil, fmt.Errorf("list the tasks of %s: %w", workshop.SessionObjectName(id), err)
	}
	seen := map[string]bool{}
	for _, e := range engines {
		seen[e.host] = true
	}
	for _, t := range tasks {
		if t.NodeID == "" || seen["node:"+t.NodeID] {
			continue
		}
		seen["node:"+t.NodeID] = true
		e, err := b.engineFor(ctx, t.NodeID)
		if errors.Is(err, errNodeGone) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("its workspace volume would be left on a node: %w", err)
		}
		if !seen[e.host] {
			seen[e.host] = true
			engines = append(engines, e)
		}
	}
	return engines, nil
}

// removeSession removes everything labelled with the session, round after round, until
// the label-filtered listings are empty (a network stays in use until the task's
// container is gone; a volume until the container is removed).
func (b *Backend) removeSession(ctx context.Context, id string, engines []*engine) error {
	f := filters.NewArgs(filters.Arg("label", workshop.LabelSession+"="+id),
		filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue))
	delay := pollMin
	for {
		left, errs := b.removeRound(ctx, f, engines)
		if left == 0 {
			b.subnets.Release(id)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d objects of session %s are left: %w", left, id, errors.Join(append(errs, ctx.Err())...))
		case <-time.After(delay):
		}
		delay = min(delay*2, pollMax)
	}
}

// removeRound tries to remove each object of the session once and returns how many
// were found (0: nothing is left) and the errors other than "in use".
func (b *Backend) removeRound(ctx context.Context, f filters.Args, engines []*engine) (int, []error) {
	left := 0
	var errs []error
	note := func(what string, err error) {
		if err != nil && !docker.IsNotFound(err) && !docker.IsConflict(err) {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	services, err := b.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: f})
	note("list services", err)
	for _, s := range services {
		left++
		note("remove service "+s.Spec.Name, b.cli.ServiceRemove(ctx, s.ID))
	}
	// Task containers go once their service is gone; force them on each engine.
	containersLeft := 0
	for _, e := range engines {
		cs, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		note("list containers on "+e.host, err)
		for _, c := range cs {
			left++
			containersLeft++
			if len(services) == 0 {
				note("remove container "+c.ID[:12], e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}))
			}
		}
	}
	nets, err := b.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	note("list networks", err)
	for _, n := range nets {
		left++
		if len(services) == 0 && containersLeft == 0 {
			note("remove network "+n.Name, b.cli.NetworkRemove(ctx, n.ID))
		}
	}
	for _, e := range engines {
		vols, err := e.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		note("list volumes on "+e.host, err)
		for _, v := range vols.Volumes {
			left++
			if containersLeft == 0 {
				note("remove volume "+v.Name, e.cli.VolumeRemove(ctx, v.Name, true))
			}
		}
	}
	return left, errs
}
