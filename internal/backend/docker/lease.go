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

// A session's expiry can change in place, but Docker labels cannot. A session starts
// with its expiry in its objects' nalabo.io/expires-at label and no lease; the first
// update that changes the expiry creates a "lease": an empty volume
// nalabo-lease-<id>-<unix expiry> with role=lease, the session's labels (expires-at
// included) and an increasing nalabo.io/lease-revision. The newest lease (highest
// revision) wins over the label; an update creates the new lease before it removes the
// older ones, so a reader never sees the session fall back to the old label.
//
// Sessions created by older versions have a lease from their create (revision 1): they
// read and update the same way.

// leaseName is nalabo-lease-<id>-<unix expiry>.
func leaseName(id string, expiresAt time.Time) string {
	return "nalabo-lease-" + id + "-" + strconv.FormatInt(expiresAt.Unix(), 10)
}

// isLease reports whether a volume is a lease.
func isLease(v *volume.Volume) bool { return v.Labels[workshop.LabelRole] == workshop.RoleLease }

// newestLease returns the lease with the highest revision (then the latest expiry), or
// nil when vols hold none.
func newestLease(vols []*volume.Volume) *volume.Volume {
	var best *volume.Volume
	for _, v := range vols {
		if !isLease(v) {
			continue
		}
		if best == nil || leaseNewer(v, best) {
			best = v
		}
	}
	return best
}

func leaseNewer(a, b *volume.Volume) bool {
	ra, rb := leaseRevision(a.Labels), leaseRevision(b.Labels)
	if ra != rb {
		return ra > rb
	}
	ea, _ := workshop.ParseExpiresAt(a.Labels)
	eb, _ := workshop.ParseExpiresAt(b.Labels)
	return ea.After(eb)
}

// createLease creates the lease volume name with labels (which carry the expiry) at revision.
func (b *Backend) createLease(ctx context.Context, name string, labels map[string]string, expiresAt time.Time, revision int) error {
	labels = workshop.WithLabels(labels,
		workshop.LabelRole, workshop.RoleLease,
		workshop.LabelExpiresAt, strconv.FormatInt(expiresAt.Unix(), 10),
		LabelLeaseRevision, strconv.Itoa(revision),
	)
	if _, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		return fmt.Errorf("create lease volume %s: %w", name, err)
	}
	return nil
}

// sessionVolumes lists the volumes labelled with the session (leases included).
func (b *Backend) sessionVolumes(ctx context.Context, id string) ([]*volume.Volume, error) {
	list, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilters(
		workshop.LabelManagedBy+"="+workshop.ManagedByValue,
		workshop.LabelSession+"="+id,
	)})
	if err != nil {
		return nil, fmt.Errorf("list volumes of session %s: %w", id, err)
	}
	return list.Volumes, nil
}

// workspaceIncomplete reports whether a session's create has not finished: it has no
// lease (older versions wrote one last at create) and its workspace container is
// missing or was never started (a create starts it after everything else exists).
// state is the workspace's Docker state ("" when there is no workspace).
func workspaceIncomplete(vols []*volume.Volume, hasWorkspace bool, state string) bool {
	return newestLease(vols) == nil && (!hasWorkspace || state == "" || state == container.StateCreated)
}
