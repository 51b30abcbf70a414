package kubernetes

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/vcluster"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// configHashAnnotation is the chart's hash of all its values on the control-plane pod
// template (templates/_vclusterconfighash.tpl): a changed value changes it, so the
// workload rolls out a new control-plane pod.
const configHashAnnotation = "vClusterConfigHash"

// updateVClusterSession changes the quota (participant resources plus the vCluster's
// overhead), the limit range, the expiry label and the release (Helm upgrade with the
// values rebuilt from the session, the configuration and the template) in place.
//
// The chart values depend neither on the session's resources nor on its expiry, so a
// resize or a new duration renders the same pod template and does not restart the
// control plane. A values or chart change does: then the update waits for the new
// control-plane pod, refreshes the kubeconfigs, and re-applies the template's
// manifests (without persistence the new control plane starts empty). A change of the
// data store (persistence, backing store) is refused: it needs a new session.
func (b *Backend) updateVClusterSession(ctx context.Context, id string, spec *workshop.SessionSpec) (*workshop.Session, error) {
	start := time.Now()
	s, err := b.cfg.VCluster.Settings()
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	spec.ID = id
	res, err := checkVClusterSpec(spec)
	if err != nil {
		return nil, err
	}
	objs, err := decodeManifests(spec.Template.Manifests)
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	unlock := b.lockSession(id)
	defer unlock()
	name := workshop.SessionObjectName(id)
	ns, err := b.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("update session %s: %w", id, workshop.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	if spec.Participant == "" {
		spec.Participant = ns.Annotations[workshop.LabelPrefix+"participant"]
	}
	claimed := ns.Labels[workshop.LabelPool] == workshop.PoolClaimed
	expiryChanged := !spec.ExpiresAt.IsZero() && ns.Labels[workshop.LabelExpiresAt] != strconv.FormatInt(spec.ExpiresAt.Unix(), 10)
	rel, err := b.newVClusterRelease(s, releaseSpec(spec, ns))
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	recorded, err := b.recordedVClusterOf(ns)
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	if err := vcluster.CheckInPlace(recorded, rel.state); err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	if err := b.updateSessionNamespace(ctx, ns, spec, res); err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	// A values or chart change restarts the control plane. Stop the old one first: during
	// the chart's rolling update the old syncer (with the old virtual cluster) and the
	// new one (starting empty without persistence) would run side by side on the same
	// host namespace and delete each other's synced objects (seen: the new CoreDNS's
	// ConfigMap removed, the re-applied Deployment's pods never created).
	changed := recorded.ValuesSHA256 != rel.state.ValuesSHA256 || recorded.Chart != rel.state.Chart
	if changed && recorded.ValuesSHA256 != "" {
		if err := b.scaleControlPlane(ctx, name, rel.state.Release, 0); err != nil {
			return nil, fmt.Errorf("update session %s: %w", id, err)
		}
		// Without persistence the new control plane starts an empty virtual cluster: the
		// host copies of the old one's objects would be orphans holding the quota (the
		// re-applied Deployment's pod then never fits).
		if recorded.Persistence == "" {
			if err := b.removeSyncedObjects(ctx, name, rel.state.Release); err != nil {
				return nil, fmt.Errorf("update session %s: %w", id, err)
			}
		}
		trace(id, start, "control-plane-stopped")
	}
	restarted, err := b.upgradeVCluster(ctx, s, spec, res, rel, start)
	if err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	// Re-apply when the control plane restarted, and when the recorded fingerprint
	// differs (an earlier update that upgraded the release but failed afterwards).
	if !restarted && recorded.ValuesSHA256 == rel.state.ValuesSHA256 && recorded.Chart == rel.state.Chart {
		if _, err := b.waitControlPlane(ctx, name, rel.state.Release, start, id); err != nil {
			return nil, fmt.Errorf("update session %s: %w", id, err)
		}
		if claimed && expiryChanged {
			// The token of a claimed entry expires with the session: a new one.
			if err := b.reconcileVCluster(ctx, s, spec, nil, start, true); err != nil {
				return nil, fmt.Errorf("update session %s: %w", id, err)
			}
		}
		return b.readVClusterSession(ctx, id)
	}
	if err := b.reconcileVCluster(ctx, s, spec, objs, start, claimed); err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	if err := b.patchVClusterAnnotations(ctx, name, rel.state); err != nil {
		return nil, fmt.Errorf("update session %s: %w", id, err)
	}
	return b.readVClusterSession(ctx, id)
}

// upgradeVCluster upgrades the session's release with rel's values, waits until the
// control plane runs the resulting pod template, and sets the quota and limit range
// for res. restarted tells whether the pod template changed (a new control plane).
func (b *Backend) upgradeVCluster(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, res workshop.ParsedResources,
	rel vclusterRelease, start time.Time) (restarted bool, err error) {
	ns, release := workshop.SessionObjectName(spec.ID), rel.state.Release
	// Room for a second control-plane pod while the chart's Deployment rolls out a new
	// one (maxSurge 1, maxUnavailable 0: the old pod stops only once the new one is
	// ready), which a quota sized for one control plane would forbid forever. After a
	// failure the room stays (the rollout may still finish); the next update removes it.
	if err := b.updateVClusterLimits(ctx, s, ns, res, true); err != nil {
		return false, err
	}
	before, err := b.controlPlaneWorkload(ctx, ns, release)
	if err != nil {
		return false, err
	}
	if err := b.helmUpgrade(ctx, s, ns, release, spec.Labels(), rel.values); err != nil {
		return false, err
	}
	trace(spec.ID, start, "helm-upgrade")
	// Back to one replica if the control plane was stopped before the upgrade (Helm's
	// three-way merge may leave the live replica count alone when the chart's is
	// unchanged).
	if err := b.scaleControlPlane(ctx, ns, release, 1); err != nil {
		return false, err
	}
	after, err := b.controlPlaneWorkload(ctx, ns, release)
	if err != nil {
		return false, err
	}
	if err := b.waitControlPlaneRollout(ctx, ns, release); err != nil {
		return false, err
	}
	trace(spec.ID, start, "rollout")
	if err := b.updateVClusterLimits(ctx, s, ns, res, false); err != nil {
		return false, err
	}
	return before.hash != after.hash, nil
}

// updateSessionNamespace writes the expiry label, the duration and the resources onto
// the session namespace.
func (b *Backend) updateSessionNamespace(ctx context.Context, ns *corev1.Namespace, spec *workshop.SessionSpec, res workshop.ParsedResources) error {
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	if !spec.ExpiresAt.IsZero() {
		ns.Labels[workshop.LabelExpiresAt] = strconv.FormatInt(spec.ExpiresAt.Unix(), 10)
		ns.Annotations[workshop.LabelPrefix+"duration"] = spec.Duration.String()
	}
	setResourceAnnotations(ns.Annotations, res)
	if _, err := b.cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	return nil
}

// recordedVClusterOf reads what the session's release was installed with (the Helm
// release's values only for sessions older than the annotations).
func (b *Backend) recordedVClusterOf(ns *corev1.Namespace) (*workshop.VClusterState, error) {
	id := ns.Labels[workshop.LabelSession]
	release := workshop.VClusterReleaseName(id)
	var relValues map[string]any
	if _, ok := ns.Annotations[annotationVClusterBackingStore]; !ok {
		rel, err := b.helmRelease(ns.Name, release)
		if err != nil {
			return nil, err
		}
		if rel != nil {
			relValues = rel.Config
		}
	}
	return recordedVCluster(ns.Annotations, release, relValues), nil
}

// updateVClusterLimits sets the quota (participant resources plus the vCluster's
// overhead; with surge, room for one more control-plane pod) and the limit range.
func (b *Backend) updateVClusterLimits(ctx context.Context, s vcluster.Settings, ns string, res workshop.ParsedResources, surge bool) error {
	core := b.cs.CoreV1()
	err := b.updateQuota(ctx, ns, func(q *corev1.ResourceQuota) {
		want := vclusterQuota(s, res)
		if surge {
			want.MilliCPU += s.CPUMilli
			want.MemoryBytes += s.MemBytes
		}
		q.Spec = quotaSpec(want)
		if !surge {
			return
		}
		q.Spec.Hard[corev1.ResourcePods] = *resource.NewQuantity(maxPods+1, resource.DecimalSI)
		// What runs may already exceed the participant's share (a resize down leaves
		// running pods alone): the new control plane must fit on top of what is used.
		cpu, mem := *resource.NewMilliQuantity(s.CPUMilli, resource.DecimalSI), *resource.NewQuantity(s.MemBytes, resource.BinarySI)
		for name, extra := range map[corev1.ResourceName]resource.Quantity{
			corev1.ResourceLimitsCPU: cpu, corev1.ResourceRequestsCPU: cpu,
			corev1.ResourceLimitsMemory: mem, corev1.ResourceRequestsMemory: mem,
		} {
			used, ok := q.Status.Used[name]
			hard, limited := q.Spec.Hard[name]
			if !ok || !limited {
				continue
			}
			need := used.DeepCopy()
			need.Add(extra)
			if hard.Cmp(need) < 0 {
				q.Spec.Hard[name] = need
			}
		}
	})
	if err != nil {
		return err
	}
	lr, err := core.LimitRanges(ns).Get(ctx, limitRangeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read limit range: %w", err)
	}
	lr.Spec = limitRangeSpec(res)
	if _, err := core.LimitRanges(ns).Update(ctx, lr, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("limit range: %w", err)
	}
	return nil
}

// reconcileVCluster brings a session back after its control plane was replaced (the
// rollout is over): it waits for the kubeconfig secret, rewrites the session's kubeconfig
// secret if the credentials changed (a claimed pool entry's: a new token), and
// re-applies the template's manifests in the virtual cluster once its API answers.
func (b *Backend) reconcileVCluster(ctx context.Context, s vcluster.Settings, spec *workshop.SessionSpec, objs []*unstructured.Unstructured,
	start time.Time, claimed bool) error {
	ns := workshop.SessionObjectName(spec.ID)
	release := workshop.VClusterReleaseName(spec.ID)
	raw, err := b.waitControlPlane(ctx, ns, release, start, spec.ID)
	if err != nil {
		return err
	}
	svc, err := b.cs.CoreV1().Services(ns).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("vcluster service %s: %w", release, err)
	}
	inCluster := "https://" + net.JoinHostPort(svc.Spec.ClusterIP, "443")
	var inPod, partic []byte
	if claimed {
		inPod, partic, err = b.claimedKubeconfigs(ctx, s, spec, &vclusterPlane{ns: ns, release: release,
			clusterIP: svc.Spec.ClusterIP, inCluster: inCluster, kubeconfig: raw})
	} else {
		inPod, partic, err = vclusterKubeconfigs(raw, release, inCluster, participantServer(s, spec.ID, ns, release, inCluster), "")
	}
	if err != nil {
		return err
	}
	if err := b.refreshKubeconfigSecret(ctx, ns, inPod, partic); err != nil {
		return err
	}
	err = b.withVirtualAPI(ctx, s, ns, release, raw, svc.Spec.ClusterIP, func(vb *Backend) error {
		return applyTemplateVirtual(ctx, vb, spec.ID, release, start, spec.Labels(), objs)
	})
	return b.withHostPodProblems(err, ns, release)
}

// refreshKubeconfigSecret writes the session's kubeconfigs when they changed.
func (b *Backend) refreshKubeconfigSecret(ctx context.Context, ns string, inPod, partic []byte) error {
	secrets := b.cs.CoreV1().Secrets(ns)
	sec, err := secrets.Get(ctx, kubeconfigSecret, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read kubeconfig secret: %w", err)
	}
	if bytes.Equal(sec.Data[secretKeyInPod], inPod) && bytes.Equal(sec.Data[secretKeyPartic], partic) {
		return nil
	}
	sec.Data = map[string][]byte{secretKeyInPod: inPod, secretKeyPartic: partic}
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("update kubeconfig secret: %w", err)
	}
	return nil
}

// cpWorkload is the control-plane workload's pod-template hash and rollout progress.
type cpWorkload struct {
	kind               string // Deployment (no persistence) or StatefulSet
	hash               string
	generation         int64
	observedGeneration int64
	// failure is why the workload cannot create its pod (a Deployment's ReplicaFailure
	// condition: quota, Pod Security), or "".
	failure string
}

// controlPlaneWorkload reads the release's Deployment or StatefulSet (the chart's kind
// depends on persistence); the zero value when there is none.
func (b *Backend) controlPlaneWorkload(ctx context.Context, ns, release string) (cpWorkload, error) {
	d, err := b.cs.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	if err == nil {
		w := cpWorkload{kind: "Deployment", hash: d.Spec.Template.Annotations[configHashAnnotation],
			generation: d.Generation, observedGeneration: d.Status.ObservedGeneration}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				w.failure = c.Reason + ": " + c.Message
			}
		}
		return w, nil
	}
	if !apierrors.IsNotFound(err) {
		return cpWorkload{}, fmt.Errorf("read control-plane deployment %s: %w", release, err)
	}
	st, err := b.cs.AppsV1().StatefulSets(ns).Get(ctx, release, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return cpWorkload{}, nil
	}
	if err != nil {
		return cpWorkload{}, fmt.Errorf("read control-plane statefulset %s: %w", release, err)
	}
	return cpWorkload{kind: "StatefulSet", hash: st.Spec.Template.Annotations[configHashAnnotation],
		generation: st.Generation, observedGeneration: st.Status.ObservedGeneration}, nil
}

// waitControlPlaneRollout waits until the control plane runs the workload's current
// pod template: right after helm upgrade the old pod is still Ready for a while, and
// talking to it (or to the new one while the old syncer still runs) would apply the
// manifests into the virtual cluster that is going away.
func (b *Backend) waitControlPlaneRollout(ctx context.Context, ns, release string) error {
	step := "control-plane workload not found"
	for {
		done, msg, err := b.rolloutStep(ctx, ns, release)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("vcluster %s: %w", release, err)
		}
		if done {
			return nil
		}
		if msg != "" {
			step = msg
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vcluster %s: control plane not rolled out before the deadline: %s: %w", release, step, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// rolloutStep looks once: done when the workload's generation is observed and every
// control-plane pod carries the current config hash, one of them ready.
func (b *Backend) rolloutStep(ctx context.Context, ns, release string) (bool, string, error) {
	w, err := b.controlPlaneWorkload(ctx, ns, release)
	if err != nil || w.kind == "" {
		return false, "control-plane workload not found", err
	}
	if w.observedGeneration < w.generation {
		return false, fmt.Sprintf("%s %s: generation %d not observed yet", w.kind, release, w.generation), nil
	}
	pods, err := b.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: controlPlaneSelector(release)})
	if err != nil {
		return false, "", fmt.Errorf("list control-plane pods: %w", err)
	}
	ready := false
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Annotations[configHashAnnotation] != w.hash {
			msg := "previous control-plane pod " + p.Name + " still there"
			if w.failure != "" {
				msg += "; the new one cannot be created: " + w.failure
			}
			return false, msg, nil
		}
		ready = ready || (p.DeletionTimestamp == nil && podReady(p))
	}
	if !ready {
		return false, "new control-plane pod not ready yet", nil
	}
	return true, "", nil
}

// scaleControlPlane sets the replicas of the release's Deployment or StatefulSet
// (through the scale subresource) when they differ; with 0 it waits until the
// control-plane pods are gone (their containers stopped: the kubelet confirmed it).
func (b *Backend) scaleControlPlane(ctx context.Context, ns, release string, replicas int32) error {
	w, err := b.controlPlaneWorkload(ctx, ns, release)
	if err != nil || w.kind == "" {
		return err
	}
	apps := b.cs.AppsV1()
	var sc *autoscalingv1.Scale
	switch w.kind {
	case "Deployment":
		sc, err = apps.Deployments(ns).GetScale(ctx, release, metav1.GetOptions{})
	default:
		sc, err = apps.StatefulSets(ns).GetScale(ctx, release, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("read the control plane's scale: %w", err)
	}
	if sc.Spec.Replicas != replicas {
		sc.Spec.Replicas = replicas
		upd := metav1.UpdateOptions{FieldManager: fieldManager}
		if w.kind == "Deployment" {
			_, err = apps.Deployments(ns).UpdateScale(ctx, release, sc, upd)
		} else {
			_, err = apps.StatefulSets(ns).UpdateScale(ctx, release, sc, upd)
		}
		if err != nil {
			return fmt.Errorf("scale the control plane to %d: %w", replicas, err)
		}
	}
	if replicas > 0 {
		return nil
	}
	pods := b.cs.CoreV1().Pods(ns)
	sel := metav1.ListOptions{LabelSelector: controlPlaneSelector(release)}
	for {
		l, err := pods.List(ctx, sel)
		if err != nil {
			return fmt.Errorf("stop the control plane: %w", err)
		}
		if len(l.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the control plane is still stopping (%d pods): %w", len(l.Items), ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// syncedMarker is the label the vCluster syncer puts on the host copies of virtual
// objects, with the release name as value.
const syncedMarker = "vcluster.loft.sh/managed-by"

// removeSyncedObjects deletes the host copies the release's syncer made (pods at once,
// services, endpoints, config maps, secrets, claims): the objects of a virtual cluster
// that is gone.
func (b *Backend) removeSyncedObjects(ctx context.Context, ns, release string) error {
	core := b.cs.CoreV1()
	sel := metav1.ListOptions{LabelSelector: syncedMarker + "=" + release}
	del := metav1.DeleteOptions{}
	for what, fn := range map[string]func() error{
		"pods": func() error {
			return core.Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}, sel)
		},
		"config maps": func() error { return core.ConfigMaps(ns).DeleteCollection(ctx, del, sel) },
		"secrets":     func() error { return core.Secrets(ns).DeleteCollection(ctx, del, sel) },
		"endpoints":   func() error { return core.Endpoints(ns).DeleteCollection(ctx, del, sel) },
		"claims":      func() error { return core.PersistentVolumeClaims(ns).DeleteCollection(ctx, del, sel) },
		"services": func() error {
			// Services have no deletecollection: one by one.
			l, err := core.Services(ns).List(ctx, sel)
			if err != nil {
				return err
			}
			for _, svc := range l.Items {
				if err := core.Services(ns).Delete(ctx, svc.Name, del); err != nil && !apierrors.IsNotFound(err) {
					return err
				}
			}
			return nil
		},
	} {
		if err := fn(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove the old virtual cluster's %s: %w", what, err)
		}
	}
	return nil
}

// withHostPodProblems adds to err, when there is one, why the host copies of the
// virtual cluster's pods are not running (unschedulable, an image missing, a container
// waiting): the virtual cluster only says its Deployment is not available.
func (b *Backend) withHostPodProblems(err error, ns, release string) error {
	if err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, lerr := b.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: syncedMarker + "=" + release})
	if lerr != nil {
		return err
	}
	var problems []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if podReady(p) {
			continue
		}
		reason := string(p.Status.Phase)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				reason = c.Reason + ": " + c.Message
			}
		}
		if u, cerr := runtime.DefaultUnstructuredConverter.ToUnstructured(p); cerr == nil {
			if w, _ := podWaiting(&unstructured.Unstructured{Object: u}); w != "" {
				reason = w
			}
		}
		problems = append(problems, "host pod "+p.Name+": "+reason)
	}
	if len(problems) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(problems, "; "))
}
