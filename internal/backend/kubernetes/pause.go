package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Persistent homes on Kubernetes (namespace isolation): the workspace's home is a
// PersistentVolumeClaim "home" instead of an emptyDir. Stopping a session deletes its
// workspace pod and keeps the claim; the pod's spec is kept in an annotation of the
// session's namespace (which the participant cannot change), from which a resume
// re-creates the pod bound to the same claim.

// homeClaimName is the claim of a persistent session's home.
const homeClaimName = "home"

// annotationStoppedWorkspace holds the workspace pod (JSON) of a stopped session.
const annotationStoppedWorkspace = workshop.LabelPrefix + "stopped-workspace"

var (
	_       workshop.SessionPauser = (*Backend)(nil)
	podsGVR                        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

// homeClaim is the claim of a persistent session's home.
func homeClaim(om metav1.ObjectMeta, p *workshop.Persistence) (*corev1.PersistentVolumeClaim, error) {
	size, err := workshop.ParseStorage(p.Size)
	if err != nil {
		return nil, fmt.Errorf("persistence: size: %w", err)
	}
	om.Name = homeClaimName
	om.Labels = workshop.WithLabels(om.Labels, workshop.LabelRole, workshop.RoleVolume)
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: om,
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: bytesQ(size)}},
		},
	}, nil
}

// homeVolume is the workspace pod's home: the claim of a persistent session, else an emptyDir.
func homeVolume(spec *workshop.SessionSpec) corev1.VolumeSource {
	if spec.Persistence != nil {
		return corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: homeClaimName}}
	}
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
}

// StopSession deletes a persistent session's workspace pod and waits until it is gone;
// the pod is kept in the namespace's annotation first, so that StartSession can create
// it again. Its home claim stays. Stopping a stopped session is not an error.
func (b *Backend) StopSession(ctx context.Context, id string) error {
	if err := workshop.ValidateSessionID(id); err != nil {
		return err
	}
	defer b.reads.change(id)()
	unlock := b.lockSession(id)
	defer unlock()
	name := workshop.SessionObjectName(id)
	core := b.cs.CoreV1()
	ns, err := core.Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("stop session %s: %w", id, workshop.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("stop session %s: %w", id, err)
	}
	if ns.Labels[LabelIsolation] == string(workshop.IsolationVCluster) || workshop.PersistenceFromLabels(ns.Labels) == nil {
		return fmt.Errorf("stop session %s: only a namespace session with persistence can be stopped (its home would be lost)", id)
	}
	if err := b.stopWorkloads(ctx, ns); err != nil { // pause_workloads.go: the template's workloads first
		return fmt.Errorf("stop session %s: %w", id, err)
	}
	pod, err := core.Pods(name).Get(ctx, workspacePodName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if ns.Annotations[annotationStoppedWorkspace] != "" {
			return nil
		}
		return fmt.Errorf("stop session %s: no workspace pod (status degraded)", id)
	}
	if err != nil {
		return fmt.Errorf("stop session %s: read workspace pod: %w", id, err)
	}
	if ns.Annotations[annotationStoppedWorkspace] == "" {
		saved, err := json.Marshal(podTemplate(pod))
		if err != nil {
			return fmt.Errorf("stop session %s: %w", id, err)
		}
		if ns.Annotations == nil {
			ns.Annotations = map[string]string{}
		}
		ns.Annotations[annotationStoppedWorkspace] = string(saved)
		// The pause of a session whose expiry pauses is recorded with the stop, in one
		// update (workshop.ExpiryPaused).
		if now := time.Now(); workshop.PausesAt(ns.Labels, now) {
			ns.Labels[workshop.LabelStoppedAt] = strconv.FormatInt(now.Unix(), 10)
		}
		if _, err := core.Namespaces().Update(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("stop session %s: namespace: %w", id, err)
		}
	}
	if err := core.Pods(name).Delete(ctx, workspacePodName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("stop session %s: delete workspace pod: %w", id, err)
	}
	if err := waitGoneWatch(ctx, b.dyn.Resource(podsGVR).Namespace(name), workspacePodName, pod.UID); err != nil {
		return fmt.Errorf("stop session %s: workspace pod: %w", id, err)
	}
	return nil
}

// podTemplate is what of a pod can be created again: its name, labels and spec
// (without what the scheduler and admission filled in for this instance).
func podTemplate(p *corev1.Pod) *corev1.Pod {
	spec := p.Spec.DeepCopy()
	spec.NodeName = ""
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels},
		Spec:       *spec,
	}
}

// StartSession re-creates a stopped session's workspace pod from the namespace's
// annotation, bound to the same home claim, waits until it is ready and clears the
// annotation. An expired session is not started (extend it first).
func (b *Backend) StartSession(ctx context.Context, id string) (*workshop.Session, error) {
	if err := workshop.ValidateSessionID(id); err != nil {
		return nil, err
	}
	done := b.reads.change(id)
	unlock := b.lockSession(id)
	err := b.startSession(ctx, id)
	unlock()
	done()
	if err != nil {
		return nil, fmt.Errorf("start session %s: %w", id, err)
	}
	return b.getSession(ctx, id)
}

func (b *Backend) startSession(ctx context.Context, id string) error {
	name := workshop.SessionObjectName(id)
	core := b.cs.CoreV1()
	ns, err := core.Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return workshop.ErrNotFound
	}
	if err != nil {
		return err
	}
	if err := b.startWorkloads(ctx, ns); err != nil { // pause_workloads.go: before the workspace
		return err
	}
	saved := ns.Annotations[annotationStoppedWorkspace]
	if saved == "" {
		return nil // not stopped
	}
	exp, hasExpiry := workshop.ParseExpiresAt(ns.Labels)
	stoppedAt, paused := workshop.ParseStoppedAt(ns.Labels)
	if hasExpiry && time.Now().After(exp) && !paused {
		return fmt.Errorf("it expired at %s; extend its duration to resume it", exp.UTC().Format(time.RFC3339))
	}
	var pod corev1.Pod
	if err := json.Unmarshal([]byte(saved), &pod); err != nil {
		return fmt.Errorf("the stopped workspace kept in %s is unreadable: %w", annotationStoppedWorkspace, err)
	}
	if paused && hasExpiry {
		// Its expiry was paused: it moves by the time the session stayed stopped, with a
		// participant token that expires with it, before the workspace is back (a start
		// cut short leaves the new expiry, not a second pause).
		exp = workshop.ResumedExpiry(exp, stoppedAt, time.Now())
		ns.Labels[workshop.LabelExpiresAt] = strconv.FormatInt(exp.Unix(), 10)
		delete(ns.Labels, workshop.LabelStoppedAt)
		if _, err := core.Namespaces().Update(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("namespace: %w", err)
		}
		if err := b.refreshKubeconfigs(ctx, name, exp); err != nil {
			return err
		}
	}
	pod.Namespace = name
	if _, err := core.Pods(name).Create(ctx, &pod, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create workspace pod: %w", err)
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Pod")
	u.SetName(workspacePodName)
	u.SetNamespace(name)
	if err := b.waitReady(ctx, []*unstructured.Unstructured{u}); err != nil {
		return err
	}
	patch := []byte(`{"metadata":{"annotations":{"` + annotationStoppedWorkspace + `":null}}}`)
	if _, err := core.Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	return nil
}

// stoppedSession reports whether session id is stopped (its namespace says so).
func (b *Backend) stoppedSession(ctx context.Context, id string) bool {
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(id), metav1.GetOptions{})
	return err == nil && isStopped(ns)
}

// isStopped reports whether a namespace holds a stopped session.
func isStopped(ns *corev1.Namespace) bool {
	return ns != nil && ns.Annotations[annotationStoppedWorkspace] != ""
}
