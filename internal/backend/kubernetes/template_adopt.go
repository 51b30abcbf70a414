package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

var _ workshop.TemplateAdopter = (*Backend)(nil)

// labelTemplateCopy patches the orphan label of a template copy's ConfigMap (value ""
// removes it).
func (b *Backend) labelTemplateCopy(ctx context.Context, id, value string) error {
	_, name, key, err := workshop.ParseTemplateID(id)
	if err != nil {
		return err
	}
	var v any
	if value != "" {
		v = value
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{workshop.LabelOrphaned: v}}})
	_, err = b.cs.CoreV1().ConfigMaps(b.cfg.Namespace).Patch(ctx, templateConfigMapName(name, key), types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) && value == "" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("label template %s: %w", id, err)
	}
	return nil
}

// MarkTemplateOrphaned labels the copy's ConfigMap nalabo.io/orphaned=true.
func (b *Backend) MarkTemplateOrphaned(ctx context.Context, id string) error {
	return b.labelTemplateCopy(ctx, id, "true")
}

// ClaimTemplate removes the orphan label.
func (b *Backend) ClaimTemplate(ctx context.Context, id string) error {
	return b.labelTemplateCopy(ctx, id, "")
}

// OrphanedTemplate returns an orphaned copy of name with digest.
func (b *Backend) OrphanedTemplate(ctx context.Context, name, digest string) (string, error) {
	list, err := b.cs.CoreV1().ConfigMaps(b.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: workshop.LabelRole + "=" +
		workshop.RoleTemplate + "," + workshop.LabelTemplate + "=" + name + "," + workshop.LabelOrphaned + "=true"})
	if err != nil {
		return "", fmt.Errorf("list orphaned copies of template %s: %w", name, err)
	}
	for _, cm := range list.Items {
		t := new(workshop.Template)
		if json.Unmarshal([]byte(cm.Data[templateDataKey]), t) == nil && t.Digest == digest && t.ID != "" {
			return t.ID, nil
		}
	}
	return "", nil
}
