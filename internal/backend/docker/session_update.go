package docker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// UpdateSession changes the workspace's CPU and memory limits in place and, when the
// expiry changes, moves the session to a new lease (its first one, or the next). Storage cannot change in place (the
// provider replaces the session).
func (b *Backend) UpdateSession(ctx context.Context, id string, spec *workshop.SessionSpec) (*workshop.Session, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	if spec == nil {
		return nil, fmt.Errorf("update session %s: no spec given", id)
	}
	defer b.reads.mutation(id)()
	res, err := effectiveResources(spec).Parse()
	if err != nil {
		return nil, fmt.Errorf("update session %s: resources: %w", id, err)
	}
	facts, err := b.daemonFacts(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkHostCapacity(facts, res); err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	unlock := b.lockSession(id)
	ctrs, err := b.sessionContainers(ctx, id)
	if err != nil {
		unlock()
		return nil, err
	}
	if len(ctrs) > 1 {
		// Services share the budget with the workspace.
		if _, err = b.rebalance(ctx, id, res, nil, nil, true); err != nil {
			err = fmt.Errorf("update session %s: %w", id, err)
		}
	} else {
		err = b.updateLimits(ctx, id, res)
	}
	unlock()
	if err != nil {
		return nil, err
	}
	if !spec.ExpiresAt.IsZero() {
		if err := b.updateExpiry(ctx, id, spec); err != nil {
			return nil, err
		}
	}
	return b.readSession(ctx, id, nil)
}

// updateLimits sets CPU and memory in one update: Docker requires MemorySwap >= Memory
// at every step, so both move together (swap stays off).
func (b *Backend) updateLimits(ctx context.Context, id string, res workshop.ParsedResources) error {
	name := workshop.SessionObjectName(id)
	_, err := b.cli.ContainerUpdate(ctx, name, container.UpdateConfig{Resources: container.Resources{
		NanoCPUs:   res.MilliCPU * 1e6,
		Memory:     res.MemoryBytes,
		MemorySwap: res.MemoryBytes,
	}})
	if isNotFound(err) {
		return fmt.Errorf("update session %s: no container %s: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update limits of container %s: %w", name, err)
	}
	return nil
}

// updateExpiry creates a lease with the new expiry (revision + 1; the first lease of a
// session created without one is revision 1), then removes the older leases. An
// unchanged expiry creates nothing. A paused session's stop record is kept.
func (b *Backend) updateExpiry(ctx context.Context, id string, spec *workshop.SessionSpec) error {
	return b.replaceLease(ctx, id, spec, spec.ExpiresAt, nil)
}

// replaceLease makes the session's newest lease say expiry exp and, with stoppedAt,
// that record of a paused stop (a zero time: none; nil: the current lease's). Nothing
// changes when the current lease (or, without one, the workspace's labels) says the
// same. The new lease is created before the older ones are removed.
func (b *Backend) replaceLease(ctx context.Context, id string, spec *workshop.SessionSpec, exp time.Time, stoppedAt *time.Time) error {
	vols, err := b.sessionVolumes(ctx, id)
	if err != nil {
		return err
	}
	cur := newestLease(vols)
	var curStopped time.Time
	if cur != nil {
		curStopped, _ = workshop.ParseStoppedAt(cur.Labels)
	}
	if stoppedAt == nil {
		stoppedAt = &curStopped
	}
	samePause := stoppedAt.Unix() == curStopped.Unix()
	if cur != nil {
		if t, ok := workshop.ParseExpiresAt(cur.Labels); ok && t.Unix() == exp.Unix() && samePause {
			return nil
		}
	} else if stoppedAt.IsZero() {
		// No lease yet: the expiry is the workspace's label (created without a lease).
		name := workshop.SessionObjectName(id)
		ins, err := b.cli.ContainerInspect(ctx, name)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("inspect container %s: %w", name, err)
		}
		if err == nil && ins.Config != nil {
			if t, ok := workshop.ParseExpiresAt(ins.Config.Labels); ok && t.Unix() == exp.Unix() {
				return nil
			}
		}
	}
	labels, err := b.leaseBaseLabels(ctx, id, spec, cur)
	if err != nil {
		return err
	}
	want := leaseName(id, exp)
	if !stoppedAt.IsZero() {
		labels[workshop.LabelStoppedAt] = strconv.FormatInt(stoppedAt.Unix(), 10)
		want += "-stopped-" + strconv.FormatInt(stoppedAt.Unix(), 10)
	}
	// A stale lease with the target name (left by an interrupted update) would be
	// returned unchanged by VolumeCreate: remove it first.
	for _, v := range vols {
		if v.Name == want && isLease(v) {
			if err := b.removeVolume(ctx, v.Name); err != nil {
				return err
			}
		}
	}
	rev := 1
	if cur != nil {
		rev = leaseRevision(cur.Labels) + 1
	}
	if err := b.createLease(ctx, want, labels, exp, rev); err != nil {
		return err
	}
	for _, v := range vols {
		if isLease(v) && v.Name != want {
			if err := b.removeVolume(ctx, v.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// leaseBaseLabels are the session labels a new lease carries: from the spec when it
// names its template, else from the current lease or the workspace container.
func (b *Backend) leaseBaseLabels(ctx context.Context, id string, spec *workshop.SessionSpec, cur *volume.Volume) (map[string]string, error) {
	if spec.Template != nil {
		s := *spec
		s.ID = id
		return s.Labels(), nil
	}
	if cur != nil {
		return sessionLabelsOf(cur.Labels), nil
	}
	name := workshop.SessionObjectName(id)
	ins, err := b.cli.ContainerInspect(ctx, name)
	if isNotFound(err) {
		return nil, fmt.Errorf("update session %s: no container %s: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("inspect container %s: %w", name, err)
	}
	if ins.Config == nil {
		return nil, fmt.Errorf("inspect container %s: no configuration", name)
	}
	return sessionLabelsOf(ins.Config.Labels), nil
}

// sessionLabelsOf keeps the labels every session object carries.
func sessionLabelsOf(l map[string]string) map[string]string {
	exp, _ := workshop.ParseExpiresAt(l)
	return workshop.WithLabels(workshop.SessionLabels(l[workshop.LabelSession], l[workshop.LabelParticipant], l[workshop.LabelTemplate], exp),
		workshop.PersistenceFromLabels(l).Labels()...)
}

// removeVolume removes a volume; a missing one is fine.
func (b *Backend) removeVolume(ctx context.Context, name string) error {
	if err := b.cli.VolumeRemove(ctx, name, false); ignoreNotFound(err) != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}
