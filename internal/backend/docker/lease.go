package docker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// A session's expiry can change in place, but Docker labels cannot. The expiry lives on
// a "lease": an empty volume nalabo-lease-<id>-<unix expiry> with role=lease, the
// session's labels (expires-at included) and an increasing nalabo.io/lease-revision. The
// newest lease (highest revision) is the truth; an update creates the new lease before
// it removes the older ones, so a reconciler never sees a session without one.

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

// createLease creates a lease volume with labels (which carry the expiry) at revision.
func (b *Backend) createLease(ctx context.Context, id string, labels map[string]string, expiresAt time.Time, revision int) error {
	name := leaseName(id, expiresAt)
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
