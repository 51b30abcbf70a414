package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

// pullSecretName is the kubernetes.io/dockerconfigjson Secret of registry_auth, in each
// session namespace (and the control namespace for the pre-pull).
const pullSecretName = config.RegistryPullSecretName

// defaultSA is the service account of every pod that names none (the template's
// manifests' pods).
const defaultSA = "default"

// imagePullSecrets references the registry Secret, nil without registry_auth.
func (b *Backend) imagePullSecrets() []corev1.LocalObjectReference {
	if len(b.cfg.RegistryAuth) == 0 {
		return nil
	}
	return []corev1.LocalObjectReference{{Name: pullSecretName}}
}

// pullSecret is the registry Secret with om's namespace and labels (name set here).
// It holds the passwords: never log it.
func (b *Backend) pullSecret(om metav1.ObjectMeta) (*corev1.Secret, error) {
	data, err := b.cfg.RegistryAuth.DockerConfigJSON()
	if err != nil {
		return nil, err
	}
	om.Name = pullSecretName
	return &corev1.Secret{
		ObjectMeta: om, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: data},
	}, nil
}

// setupPullSecret writes the registry Secret into om's namespace (created, or
// updated when it is there) and makes the namespace's default service account
// reference it, so that the pods of the template's manifests pull with it without
// naming it. Nothing without registry_auth. The service account controller may create
// "default" at any moment: a create that finds it patches it instead.
func (b *Backend) setupPullSecret(ctx context.Context, om metav1.ObjectMeta) error {
	if len(b.cfg.RegistryAuth) == 0 {
		return nil
	}
	if err := b.writePullSecret(ctx, om); err != nil {
		return err
	}
	ns := om.Namespace
	core := b.cs.CoreV1()
	create := metav1.CreateOptions{FieldManager: fieldManager}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: defaultSA, Namespace: ns}, ImagePullSecrets: b.imagePullSecrets()}
	if _, err := core.ServiceAccounts(ns).Create(ctx, sa, create); err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("create service account %s/%s: %w", ns, defaultSA, err)
		}
		return nil
	}
	patch, err := json.Marshal(map[string]any{"imagePullSecrets": b.imagePullSecrets()})
	if err != nil {
		return err
	}
	if _, err := core.ServiceAccounts(ns).Patch(ctx, defaultSA, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("service account %s/%s: reference the registry secret: %w", ns, defaultSA, err)
	}
	return nil
}

// writePullSecret creates the registry Secret in om's namespace, or updates it there
// (the control namespace keeps one across templates: the current logins win).
func (b *Backend) writePullSecret(ctx context.Context, om metav1.ObjectMeta) error {
	ns := om.Namespace
	secret, err := b.pullSecret(om)
	if err != nil {
		return err
	}
	secrets := b.cs.CoreV1().Secrets(ns)
	_, err = secrets.Create(ctx, secret, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{FieldManager: fieldManager})
	}
	if err != nil {
		return fmt.Errorf("write registry secret %s/%s: %w", ns, pullSecretName, err)
	}
	return nil
}

// workloadPullSecrets makes the vCluster's workload service account (the host service
// account of every pod synced from the virtual cluster) reference the registry Secret
// of the session namespace, after any the values list already.
func (b *Backend) workloadPullSecrets(vals map[string]any) {
	if len(b.cfg.RegistryAuth) == 0 {
		return
	}
	path := []string{"controlPlane", "advanced", "workloadServiceAccount"}
	m := vals
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	list, _ := m["imagePullSecrets"].([]any)
	for _, s := range list {
		if e, ok := s.(map[string]any); ok && e["name"] == pullSecretName {
			return
		}
	}
	m["imagePullSecrets"] = append(list, map[string]any{"name": pullSecretName})
}

// pullRefused says whether a container waits because its registry refused the pull's
// login (or wanted one).
func pullRefused(reason, message string) bool {
	return (reason == "ErrImagePull" || reason == "ImagePullBackOff") && config.IsRegistryAuthError(message)
}

// registryAuthHint explains a refused pull of image: which registry, and what to set.
func registryAuthHint(image string) string {
	host, err := config.ImageRegistry(image)
	if err != nil {
		return "The registry refused the pull: check kubernetes.registry_auth."
	}
	return fmt.Sprintf("Registry %s refused the pull of %s: the provider's kubernetes.registry_auth needs a block with "+
		"address = %q and a username and password that registry accepts.", host, image, host)
}
