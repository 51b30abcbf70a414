package docker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Storage metering. overlay2 on ext4 (the common case) cannot cap a container's writable
// layer, and no driver caps a volume, so the reconciler measures each session's disk
// use here (the daemon's /system/df: writable layer of every container, size of every
// volume), marks a session over its budget with a labelled marker volume (volume labels
// are the only thing of a session that can be added after creation) and may stop it.

// RoleOverQuota is the role of a session's over-quota marker volume.
const RoleOverQuota = "over-quota"

// Labels of the marker: what was measured, against what budget, when.
const (
	LabelStorageBytes  = workshop.LabelPrefix + "storage-bytes"
	LabelStorageBudget = workshop.LabelPrefix + "storage-budget"
	LabelMeasuredAt    = workshop.LabelPrefix + "measured-at"
)

// diskUsageTimeout bounds /system/df: the daemon walks every writable layer.
const diskUsageTimeout = 2 * time.Minute

var _ workshop.StorageMeter = (*Backend)(nil)

func overQuotaVolumeName(id string) string { return workshop.SessionObjectName(id) + "-over-quota" }

func isOverQuotaMark(v *volume.Volume) bool { return v.Labels[workshop.LabelRole] == RoleOverQuota }

// StorageUsage measures every session's writable layers and volumes in one /system/df.
func (b *Backend) StorageUsage(ctx context.Context) (map[string]*workshop.StorageUsage, error) {
	ctx, cancel := context.WithTimeout(ctx, diskUsageTimeout)
	defer cancel()
	du, err := b.diskUsage(ctx)
	if err != nil {
		return nil, fmt.Errorf("measure disk use (/system/df): %w", err)
	}
	out := map[string]*workshop.StorageUsage{}
	get := func(labels map[string]string) *workshop.StorageUsage {
		id := labels[workshop.LabelSession]
		if !managedBy(labels) || id == "" {
			return nil
		}
		u := out[id]
		if u == nil {
			u = &workshop.StorageUsage{}
			out[id] = u
		}
		return u
	}
	for _, c := range du.Containers {
		u := get(c.Labels)
		if u == nil {
			continue
		}
		u.Bytes += c.SizeRw
		if c.Labels[workshop.LabelRole] == workshop.RoleWorkspace {
			u.BudgetBytes, _ = workshop.ParseStorage(c.Labels[LabelStorage])
			u.Enforced = c.Labels[LabelStorageEnforced] == "true"
		}
	}
	for _, v := range du.Volumes {
		u := get(v.Labels)
		if u == nil {
			continue
		}
		if isOverQuotaMark(v) {
			u.Marked = true
			continue
		}
		if v.UsageData != nil && v.UsageData.Size > 0 {
			u.Bytes += v.UsageData.Size
		}
	}
	return out, nil
}

// MarkOverQuota creates (over) or removes the session's marker volume.
func (b *Backend) MarkOverQuota(ctx context.Context, id string, u *workshop.StorageUsage, over bool) error {
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	defer b.reads.mutation(id)()
	name := overQuotaVolumeName(id)
	if !over {
		if err := b.cli.VolumeRemove(ctx, name, false); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove over-quota mark %s: %w", name, err)
		}
		return nil
	}
	labels := map[string]string{
		workshop.LabelManagedBy: workshop.ManagedByValue,
		workshop.LabelSession:   id,
		workshop.LabelRole:      RoleOverQuota,
		workshop.LabelBackend:   string(workshop.InfraDocker),
		LabelMeasuredAt:         strconv.FormatInt(time.Now().Unix(), 10),
	}
	if u != nil {
		labels[LabelStorageBytes] = strconv.FormatInt(u.Bytes, 10)
		labels[LabelStorageBudget] = strconv.FormatInt(u.BudgetBytes, 10)
	}
	if _, err := b.cli.VolumeInspect(ctx, name); err == nil {
		return nil // already marked (labels are immutable; the first measure stays)
	} else if !isNotFound(err) {
		return fmt.Errorf("inspect over-quota mark %s: %w", name, err)
	}
	if _, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		return fmt.Errorf("create over-quota mark %s: %w", name, err)
	}
	return nil
}

// StopSession stops every container of the session: its services, then its workspace
// (the session reads stopped once the workspace is: a stop cut short before it reads
// running, and the next stop finishes it).
func (b *Backend) StopSession(ctx context.Context, id string) error {
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	defer b.reads.mutation(id)()
	// The pause is recorded before the containers stop: a stop cut short then leaves a
	// paused session that still runs, which the next stop or start completes, never a
	// stopped one whose lifetime runs on unnoticed.
	if err := b.recordPause(ctx, id); err != nil {
		return err
	}
	ctrs, err := b.sessionContainers(ctx, id)
	if err != nil {
		return err
	}
	ws := workshop.SessionObjectName(id)
	sort.SliceStable(ctrs, func(i, j int) bool { return containerName(ctrs[j]) == ws && containerName(ctrs[i]) != ws })
	timeout := 5
	var errs []error
	for _, c := range ctrs {
		if c.State != container.StateRunning && c.State != container.StateRestarting {
			continue
		}
		if err := b.cli.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &timeout}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("stop container %s: %w", containerName(c), err))
		}
	}
	return errors.Join(errs...)
}

// diskUsage asks the daemon for container and volume sizes. The daemon runs one disk
// usage operation at a time and refuses a second ("a disk usage operation is already
// running": another client, such as `docker system df`, or another reconciler): wait
// for it and ask again.
func (b *Backend) diskUsage(ctx context.Context) (types.DiskUsage, error) {
	for delay := 200 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		du, err := b.cli.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.ContainerObject, types.VolumeObject}})
		if err == nil || !strings.Contains(err.Error(), "disk usage operation is already running") {
			return du, err
		}
		select {
		case <-ctx.Done():
			return du, err
		case <-time.After(delay):
		}
	}
}
