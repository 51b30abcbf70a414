package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.SessionAdopter = (*Backend)(nil)

// claimVolumeName is nalabo-claim-<id>: an empty volume whose presence says that a
// Terraform state holds the session (Docker labels cannot change, so the claim is an
// object of its own; it carries the session's labels and goes with the session).
func claimVolumeName(id string) string { return "nalabo-claim-" + id }

// isClaim reports whether a volume is a session's claim.
func isClaim(v *volume.Volume) bool { return v.Labels[workshop.LabelRole] == workshop.RoleClaim }

// SessionsOf lists the sessions of a template ID and a participant, complete or not
// (label-filtered lists: the participant's objects only). The creates of a class call
// it in a burst: they share one listing of every session (session_snapshot.go).
func (b *Backend) SessionsOf(ctx context.Context, templateID, participant string) ([]*workshop.Session, error) {
	if s := b.reads.shared(ctx, b); s != nil {
		return b.sessionsOfSnapshot(s, templateID, participant), nil
	}
	all, err := b.listSessions(ctx, workshop.LabelParticipant+"="+participant)
	if err != nil {
		return nil, err
	}
	return workshop.SessionsOf(all, templateID, participant), nil
}

// ClaimSession creates the session's claim volume (creating an existing volume is a
// no-op in Docker) with the labels of its workspace.
func (b *Backend) ClaimSession(ctx context.Context, id string) error {
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	defer b.reads.mutation(id)()
	ins, err := b.cli.ContainerInspect(ctx, workshop.SessionObjectName(id))
	if isNotFound(err) {
		return fmt.Errorf("claim session %s: no workspace container: %w", id, workshop.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("claim session %s: %w", id, err)
	}
	if ins.Config == nil || ins.Config.Labels[workshop.LabelSession] != id {
		return fmt.Errorf("claim session %s: the workspace container is not labelled with the session: %w", id, workshop.ErrNotFound)
	}
	labels := map[string]string{workshop.LabelRole: workshop.RoleClaim}
	for _, k := range []string{workshop.LabelManagedBy, workshop.LabelSession, workshop.LabelParticipant,
		workshop.LabelTemplate, workshop.LabelTemplateID, workshop.LabelExpiresAt, workshop.LabelBackend} {
		if v, ok := ins.Config.Labels[k]; ok {
			labels[k] = v
		}
	}
	name := claimVolumeName(id)
	if _, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels}); err != nil {
		return fmt.Errorf("claim session %s: create volume %s: %w", id, name, err)
	}
	return nil
}
