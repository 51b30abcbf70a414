package kubernetes

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// removeNamespace deletes a session's namespace and waits until it is gone. The
// namespace goes first: once terminating, nothing (a controller, a vCluster syncer) can
// re-create pods in it.
func (b *Backend) removeNamespace(ctx context.Context, id string) error {
	ns := workshop.SessionObjectName(id)
	err := b.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	// Grace 0: the kubelet keeps a pod's first grace period (the namespace controller's
	// 30 s), which a PID 1 ignoring SIGTERM would wait out in full.
	now := metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}
	if err := b.cs.CoreV1().Pods(ns).DeleteCollection(ctx, now, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the pods of namespace %s: %w", ns, err)
	}
	return b.waitNamespaceGone(ctx, ns)
}

// removeSessionObjects deletes a session of either isolation (a vcluster's Helm release
// first) and waits until it and its volumes are gone. PVCs and their volumes are deleted
// explicitly: the chart retains its data PVC.
func (b *Backend) removeSessionObjects(ctx context.Context, id string) error {
	name := workshop.SessionObjectName(id)
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		ns = nil
	case err != nil:
		return fmt.Errorf("read namespace %s: %w", name, err)
	}
	if ns != nil && ns.Labels[LabelIsolation] == string(workshop.IsolationVCluster) {
		release := workshop.VClusterReleaseName(id)
		if err := b.helmUninstall(name, release); err != nil {
			return err
		}
	}
	var pvs []string
	if ns != nil {
		if pvs, err = b.releaseVolumes(ctx, name); err != nil {
			return err
		}
	}
	if err := b.removeNamespace(ctx, id); err != nil {
		return err
	}
	// Volumes of claims already gone (a retry after a partial delete).
	more, err := b.releaseVolumes(ctx, name)
	if err != nil {
		return err
	}
	return b.waitVolumesGone(ctx, append(pvs, more...))
}

// releaseVolumes deletes the PVCs in ns and the PersistentVolumes claimed from ns, and
// returns those volumes' names.
func (b *Backend) releaseVolumes(ctx context.Context, ns string) ([]string, error) {
	core := b.cs.CoreV1()
	if err := core.PersistentVolumeClaims(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("delete PVCs in %s: %w", ns, err)
	}
	list, err := core.PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list persistent volumes: %w", err)
	}
	var names []string
	for _, pv := range list.Items {
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Namespace != ns {
			continue
		}
		names = append(names, pv.Name)
		if pv.DeletionTimestamp != nil {
			continue
		}
		if err := core.PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete persistent volume %s: %w", pv.Name, err)
		}
	}
	return names, nil
}

// waitVolumesGone waits (by watch) until the named persistent volumes are gone.
func (b *Backend) waitVolumesGone(ctx context.Context, names []string) error {
	for _, n := range names {
		if err := waitGoneWatch(ctx, b.dyn.Resource(persistentVolumesGVR), n, ""); err != nil {
			return fmt.Errorf("persistent volume %s: %w", n, err)
		}
	}
	return nil
}
