package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.TemplateAdopter = (*Backend)(nil)

// orphanMarkName is the volume that marks a template copy as orphaned.
func orphanMarkName(id string) (string, error) {
	_, name, key, err := workshop.ParseTemplateID(id)
	if err != nil {
		return "", err
	}
	return "nalabo-orphan-" + name + "-" + key, nil
}

// MarkTemplateOrphaned creates the copy's orphan-mark volume.
func (b *Backend) MarkTemplateOrphaned(ctx context.Context, id string) error {
	t, err := b.readTemplate(ctx, id)
	if err != nil {
		return err
	}
	name, err := orphanMarkName(id)
	if err != nil {
		return err
	}
	_, err = b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: map[string]string{
		workshop.LabelManagedBy:      workshop.ManagedByValue,
		workshop.LabelRole:           workshop.RoleOrphanMark,
		workshop.LabelTemplate:       t.Name,
		workshop.LabelTemplateID:     t.ID,
		workshop.LabelTemplateDigest: strings.TrimPrefix(t.Digest, "sha256:"),
		workshop.LabelBackend:        string(workshop.InfraDocker),
	}})
	if err != nil {
		return fmt.Errorf("mark template %s orphaned: %w", id, err)
	}
	return nil
}

// OrphanedTemplate returns an orphaned copy of name with digest whose template volume
// still exists.
func (b *Backend) OrphanedTemplate(ctx context.Context, name, digest string) (string, error) {
	list, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilters(
		workshop.LabelManagedBy+"="+workshop.ManagedByValue,
		workshop.LabelRole+"="+workshop.RoleOrphanMark,
		workshop.LabelTemplate+"="+name,
		workshop.LabelTemplateDigest+"="+strings.TrimPrefix(digest, "sha256:"),
	)})
	if err != nil {
		return "", fmt.Errorf("list orphaned copies of template %s: %w", name, err)
	}
	for _, v := range list.Volumes {
		id := v.Labels[workshop.LabelTemplateID]
		if _, err := b.readTemplate(ctx, id); err == nil {
			return id, nil
		}
	}
	return "", nil
}

// ClaimTemplate removes the copy's orphan mark.
func (b *Backend) ClaimTemplate(ctx context.Context, id string) error {
	name, err := orphanMarkName(id)
	if err != nil {
		return err
	}
	if err := b.cli.VolumeRemove(ctx, name, false); ignoreNotFound(err) != nil {
		return fmt.Errorf("claim template %s: %w", id, err)
	}
	return nil
}
