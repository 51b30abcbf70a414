package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// deleteRounds bounds how often a delete removes and re-checks (something may attach a
// new container to the session while it is being removed).
const deleteRounds = 5

// DeleteSession removes every container, network, volume and image labelled with the
// session and waits until none is left. Missing objects are fine: deleting twice, or
// racing another reconciler, succeeds.
func (b *Backend) DeleteSession(ctx context.Context, id string) error {
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	defer b.reads.mutation(id)()
	if err := b.removeSession(ctx, id); err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	b.sessionLocks.Forget(id)
	return nil
}

// removeSession removes what is labelled with session id, round after round, until the
// label-filtered container and network lists are empty.
func (b *Backend) removeSession(ctx context.Context, id string) error {
	ctrs, nets, err := b.listSessionObjects(ctx, id)
	if err != nil {
		return err
	}
	nothingRunning := len(ctrs) == 0 && len(nets) == 0
	for round := 0; ; round++ {
		if err := b.removeContainers(ctx, ctrs); err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return b.removeNetworks(gctx, id, nets) })
		g.Go(func() error { return b.removeSessionVolumes(gctx, id) })
		g.Go(func() error { return b.removeSessionImages(gctx, id) })
		busy := false
		if err := g.Wait(); err != nil {
			// Another client (a reconciler, a second terraform) removes the same
			// containers at this moment: their network and volumes are still in use.
			// Try again next round; give up only after the last.
			if !errors.Is(err, errBusy) || round+1 == deleteRounds {
				return err
			}
			busy = true
		}
		if nothingRunning && round == 0 && !busy {
			// Only volumes (or nothing) were left: nothing to wait for.
			b.subnets.release(id)
			return nil
		}
		var err error
		if ctrs, nets, err = b.listSessionObjects(ctx, id); err != nil {
			return err
		}
		if len(ctrs) == 0 && len(nets) == 0 && !busy {
			b.subnets.release(id)
			return nil
		}
		if round+1 == deleteRounds {
			return fmt.Errorf("%d containers and %d networks of session %s are still there after %d rounds of removal",
				len(ctrs), len(nets), id, deleteRounds)
		}
		if busy {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(round+1) * 300 * time.Millisecond):
			}
		}
	}
}

// errBusy marks a network or volume that a container still uses (being removed by
// another client at the same moment).
var errBusy = errors.New("still in use by a container being removed")

func isBusy(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return isConflict(err) || strings.Contains(msg, "active endpoints") || strings.Contains(msg, "is in use")
}

// listSessionObjects lists the session's containers and networks by label.
func (b *Backend) listSessionObjects(ctx context.Context, id string) ([]container.Summary, []network.Summary, error) {
	f := labelFilters(workshop.LabelSession + "=" + id)
	var ctrs []container.Summary
	var nets []network.Summary
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if ctrs, err = b.cli.ContainerList(gctx, container.ListOptions{All: true, Filters: f}); err != nil {
			return fmt.Errorf("list containers of session %s: %w", id, err)
		}
		return nil
	})
	g.Go(func() (err error) {
		if nets, err = b.cli.NetworkList(gctx, network.ListOptions{Filters: f}); err != nil {
			return fmt.Errorf("list networks of session %s: %w", id, err)
		}
		return nil
	})
	return ctrs, nets, g.Wait()
}

// removeContainers force-removes containers (and their anonymous volumes) concurrently.
func (b *Backend) removeContainers(ctx context.Context, ctrs []container.Summary) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range ctrs {
		g.Go(func() error {
			err := b.cli.ContainerRemove(gctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err = ignoreNotFound(err); err != nil && !isRemovalInProgress(err) {
				return fmt.Errorf("remove container %s: %w", containerName(c), err)
			}
			return nil
		})
	}
	return g.Wait()
}

// isRemovalInProgress reports Docker's answer when another client removes the same
// container at the same moment (the next round checks it is gone).
func isRemovalInProgress(err error) bool {
	return isConflict(err)
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID
}

// removeNetworks removes the session's networks: the listed ones and, in case it lost
// its labels, the one named after the session. It frees their subnets for reuse.
func (b *Backend) removeNetworks(ctx context.Context, id string, nets []network.Summary) error {
	byName := b.networkName(id)
	targets := map[string]string{byName: byName}
	var subnets []netip.Prefix
	for _, n := range nets {
		targets[n.Name] = n.ID
		subnets = append(subnets, networkSubnets([]network.Summary{n})...)
	}
	g, gctx := errgroup.WithContext(ctx)
	for name, ref := range targets {
		g.Go(func() error {
			err := b.cli.NetworkRemove(gctx, ref)
			if err = ignoreNotFound(err); isBusy(err) {
				return fmt.Errorf("remove network %s: %w (%v)", name, errBusy, err)
			} else if err != nil {
				return fmt.Errorf("remove network %s: %w", name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	b.subnets.release(id)
	for _, s := range subnets {
		b.subnets.forget(s)
	}
	return nil
}

// removeSessionVolumes removes every volume labelled with the session (leases too).
func (b *Backend) removeSessionVolumes(ctx context.Context, id string) error {
	vols, err := b.sessionVolumes(ctx, id)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, v := range vols {
		g.Go(func() error {
			err := b.removeVolume(gctx, v.Name)
			if isBusy(err) {
				return fmt.Errorf("remove volume %s: %w (%v)", v.Name, errBusy, err)
			}
			return err
		})
	}
	return g.Wait()
}

// removeSessionImages removes images built for the session (labelled with it).
func (b *Backend) removeSessionImages(ctx context.Context, id string) error {
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{Filters: labelFilters(
		workshop.LabelManagedBy+"="+workshop.ManagedByValue,
		workshop.LabelSession+"="+id,
	)})
	if err != nil {
		return fmt.Errorf("list images of session %s: %w", id, err)
	}
	for _, img := range imgs {
		_, err := b.cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		if err = ignoreNotFound(err); err != nil && !isConflict(err) {
			return fmt.Errorf("remove image %s: %w", img.ID, err)
		}
	}
	return nil
}
