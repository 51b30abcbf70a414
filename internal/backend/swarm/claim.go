package swarm

import (
	"context"
	"fmt"
	"maps"

	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.SessionAdopter = (*Backend)(nil)

// SessionsOf lists the sessions of a template ID and a participant, complete or not,
// claimed or not (label-filtered lists of services and networks): what an interrupted
// apply left for the re-apply to adopt or remove (see workshop.Adoptable).
func (b *Backend) SessionsOf(ctx context.Context, templateID, participant string) ([]*workshop.Session, error) {
	all, err := b.listSessions(ctx, workshop.LabelParticipant+"="+participant)
	if err != nil {
		return nil, err
	}
	return workshop.SessionsOf(all, templateID, participant), nil
}

// ClaimSession labels the session's service as held by a Terraform state. Service
// labels change without touching the task (no restart); an update of the same label is
// a no-op.
func (b *Backend) ClaimSession(ctx context.Context, id string) error {
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	err := b.updateService(ctx, id, func(s *swarm.ServiceSpec) {
		s.Labels = maps.Clone(s.Labels)
		s.Labels[workshop.LabelClaimed] = "true"
	})
	if err != nil {
		return fmt.Errorf("claim session %s: %w", id, err)
	}
	return nil
}
