package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/nalabo/terraform-provider-nalabo/internal/manifest"
	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// templateDataKey is the ConfigMap key holding the sealed template as JSON.
const templateDataKey = "template.json"

// annotationTemplateID carries the template ID (too long for a label at times).
const annotationTemplateID = workshop.LabelPrefix + "template-id"

func templateConfigMapName(name, digest12 string) string {
	return "nalabo-template-" + name + "-" + digest12
}

// decodeManifests returns every non-empty document as an unstructured object.
func decodeManifests(content string) ([]*unstructured.Unstructured, error) {
	if strings.TrimSpace(content) == "" {
		return nil, nil
	}
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(content)), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("manifests: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// ApplyTemplate validates and seals t and stores it as a ConfigMap in the control
// namespace. The caller's template is not modified.
func (b *Backend) ApplyTemplate(ctx context.Context, in *workshop.Template) (*workshop.Template, error) {
	if in == nil {
		return nil, errors.New("apply template: no template given")
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("template %s: %w", in.Name, err)
	}
	if in.Infrastructure != workshop.InfraKubernetes {
		return nil, fmt.Errorf("template %s: the kubernetes backend cannot apply a %q template", in.Name, in.Infrastructure)
	}
	if in.Isolation != workshop.IsolationNamespace && in.Isolation != workshop.IsolationVCluster {
		return nil, fmt.Errorf("template %s: isolation %q is not supported by this backend; use \"vcluster\" or \"namespace\"", in.Name, in.Isolation)
	}
	if err := checkPodSecurity(in.PodSecurity); err != nil {
		return nil, fmt.Errorf("template %s: pod_security: %w", in.Name, err)
	}
	validate := manifest.ValidateNamespaced
	if in.Isolation == workshop.IsolationVCluster {
		validate = ValidateVClusterManifests
	}
	if err := validate(in.Manifests); err != nil {
		return nil, fmt.Errorf("template %s: manifests: %w", in.Name, err)
	}
	if err := vcluster.ValidateValues(in.VClusterValues); err != nil {
		return nil, fmt.Errorf("template %s: vcluster_values: %w", in.Name, err)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	t := new(workshop.Template)
	if err := json.Unmarshal(raw, t); err != nil {
		return nil, err
	}
	t.Images = map[string]string{t.Workspace.Image: t.Workspace.Image}
	workshop.SealTemplate(t)
	if t.PrePull {
		// Before storing: a template whose images cannot be pulled is not created.
		if err := b.prePull(ctx, t); err != nil {
			return nil, fmt.Errorf("template %s: %w", t.Name, err)
		}
	}
	if err := b.storeTemplate(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

func checkPodSecurity(level string) error {
	switch level {
	case "", "restricted", "baseline", "privileged":
		return nil
	}
	return fmt.Errorf("%q is not a Pod Security Standards level (restricted, baseline, privileged)", level)
}

func (b *Backend) ensureControlNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.cfg.Namespace, Labels: map[string]string{
		workshop.LabelManagedBy: workshop.ManagedByValue,
	}}}
	_, err := b.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create control namespace %s: %w", b.cfg.Namespace, err)
	}
	return nil
}

func (b *Backend) storeTemplate(ctx context.Context, t *workshop.Template) error {
	_, name, digest12, err := workshop.ParseTemplateID(t.ID)
	if err != nil {
		return err
	}
	if err := b.ensureControlNamespace(ctx); err != nil {
		return err
	}
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	labels := map[string]string{
		workshop.LabelManagedBy: workshop.ManagedByValue,
		workshop.LabelRole:      workshop.RoleTemplate,
		workshop.LabelTemplate:  t.Name,
		workshop.LabelBackend:   string(workshop.InfraKubernetes),
	}
	if len(validation.IsValidLabelValue(t.ID)) == 0 {
		labels[workshop.LabelTemplateID] = t.ID
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: templateConfigMapName(name, digest12), Namespace: b.cfg.Namespace,
			Labels: labels, Annotations: map[string]string{annotationTemplateID: t.ID},
		},
		Data: map[string]string{templateDataKey: string(raw)},
	}
	cms := b.cs.CoreV1().ConfigMaps(b.cfg.Namespace)
	if _, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager}); err == nil {
		return nil
	} else if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("store template %s: %w", t.ID, err)
	}
	cur, err := cms.Get(ctx, cm.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("store template %s: %w", t.ID, err)
	}
	if cur.Data[templateDataKey] == cm.Data[templateDataKey] {
		return nil
	}
	cur.Data, cur.Labels, cur.Annotations = cm.Data, cm.Labels, cm.Annotations
	if _, err := cms.Update(ctx, cur, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("store template %s: %w", t.ID, err)
	}
	return nil
}

// GetTemplate reads a stored template, or an error wrapping workshop.ErrNotFound.
func (b *Backend) GetTemplate(ctx context.Context, id string) (*workshop.Template, error) {
	infra, name, digest12, err := workshop.ParseTemplateID(id)
	if err != nil {
		return nil, err
	}
	if infra != workshop.InfraKubernetes {
		return nil, fmt.Errorf("template %s is a %s template; the kubernetes backend does not hold it", id, infra)
	}
	cmName := templateConfigMapName(name, digest12)
	cm, err := b.cs.CoreV1().ConfigMaps(b.cfg.Namespace).Get(ctx, cmName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("template %s is not stored (no ConfigMap %s/%s): %w", id, b.cfg.Namespace, cmName, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", id, err)
	}
	t := new(workshop.Template)
	if err := json.Unmarshal([]byte(cm.Data[templateDataKey]), t); err != nil || t.ID != id {
		return nil, fmt.Errorf("ConfigMap %s/%s holds no readable spec of %s: %w", b.cfg.Namespace, cmName, id, workshop.ErrNotFound)
	}
	return t, nil
}

// DeleteTemplate removes the stored template; a missing one is not an error.
func (b *Backend) DeleteTemplate(ctx context.Context, id string) error {
	_, name, digest12, err := workshop.ParseTemplateID(id)
	if err != nil {
		return err
	}
	err = b.cs.CoreV1().ConfigMaps(b.cfg.Namespace).Delete(ctx, templateConfigMapName(name, digest12), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete template %s: %w", id, err)
	}
	// The free entries of its warm pool go with it (after the ConfigMap: a reconciler
	// no longer refills the pool once the template is gone).
	if err := b.drainPool(ctx, id); err != nil {
		return fmt.Errorf("delete template %s: %w", id, err)
	}
	// A destroy after a killed apply: what the kill left of a pre-pull goes too.
	b.reapLeftoversQuietly(ctx)
	return nil
}
