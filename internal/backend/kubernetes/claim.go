package kubernetes

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.SessionAdopter = (*Backend)(nil)

// SessionsOf lists the session namespaces of a template ID and a participant,
// complete or not (one namespace list; the caller reads a candidate with GetSession).
func (b *Backend) SessionsOf(ctx context.Context, templateID, participant string) ([]*workshop.Session, error) {
	all, err := b.ListSessions(ctx)
	if err != nil {
		return nil, err
	}
	return workshop.SessionsOf(all, templateID, participant), nil
}

// ClaimSession labels the session's namespace nalabo.io/claimed=true (namespace labels
// can change, unlike Docker's).
func (b *Backend) ClaimSession(ctx context.Context, id string) error {
	defer b.reads.change(id)()
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	name := workshop.SessionObjectName(id)
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && ns.Labels[workshop.LabelSession] != id) {
		return fmt.Errorf("claim session %s: no namespace %s: %w", id, name, workshop.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("claim session %s: %w", id, err)
	}
	if ns.Labels[workshop.LabelClaimed] == "true" {
		return nil
	}
	patch := []byte(`{"metadata":{"labels":{"` + workshop.LabelClaimed + `":"true"}}}`)
	if _, err := b.cs.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("claim session %s: label namespace %s: %w", id, name, err)
	}
	return nil
}
