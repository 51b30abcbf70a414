package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// prePullTimeout bounds a template's pre-pull (large images on slow links).
const prePullTimeout = 10 * time.Minute

// rolePrePull labels the short-lived DaemonSet of a template's pre-pull.
const rolePrePull = "pre-pull"

// A pre-pull's DaemonSet is removed by the process that created it, when the pull is
// over or has failed. A process killed meanwhile (SIGKILL, a lost machine) cannot: the
// DaemonSet would keep a pod on every node. So the creator stamps it with a heartbeat
// every prePullHeartbeatEvery, and any later pre-pull, template delete or reconciler
// pass removes the ones whose heartbeat is older than prePullStaleAfter (ReapLeftovers).
// prePullSelector lists the pre-pulls' DaemonSets and registry Secrets.
var prePullSelector = metav1.ListOptions{LabelSelector: workshop.LabelManagedBy + "=" + workshop.ManagedByValue +
	"," + workshop.LabelRole + "=" + rolePrePull}

const (
	annoHeartbeat         = "nalabo.io/heartbeat"
	prePullHeartbeatEvery = 10 * time.Second
	prePullStaleAfter     = 45 * time.Second
)

// pullImage is one image a template's sessions run, with the pull policy they use.
type pullImage struct {
	Image  string
	Policy corev1.PullPolicy
}

// templateImages lists the workspace image and every container image of the manifests
// (any object kind: a walk for containers/initContainers lists), with the manifest's
// pull policy (IfNotPresent when unset, as the pre-pull must not force a registry).
func templateImages(t *workshop.Template) ([]pullImage, error) {
	seen := map[string]corev1.PullPolicy{t.WorkspaceImage(): corev1.PullIfNotPresent}
	objs, err := decodeManifests(t.Manifests)
	if err != nil {
		return nil, err
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if k == "containers" || k == "initContainers" {
					if list, ok := child.([]any); ok {
						for _, c := range list {
							m, _ := c.(map[string]any)
							img, _ := m["image"].(string)
							if img == "" {
								continue
							}
							pol, _ := m["imagePullPolicy"].(string)
							if _, dup := seen[img]; !dup || pol == string(corev1.PullNever) {
								seen[img] = corev1.PullPolicy(pol)
							}
						}
					}
				}
				walk(child)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, o := range objs {
		walk(o.Object)
	}
	out := make([]pullImage, 0, len(seen))
	for img, pol := range seen {
		if pol != corev1.PullNever {
			pol = corev1.PullIfNotPresent
		}
		out = append(out, pullImage{Image: img, Policy: pol})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image < out[j].Image })
	return out, nil
}

// prePullDaemonSet runs one container per image on every node the sessions' pods can
// land on (no tolerations: tainted nodes run no sessions either). The containers only
// need to be created: the kubelet pulls an image before anything else, so a container
// that then exits, or is refused for running as root, has its image on the node. Least
// privilege: non-root, no capabilities, read-only root, no service account token, tiny
// limits (a quota in the control namespace admits it).
func prePullDaemonSet(ns, name string, labels map[string]string, images []pullImage, pullSecrets []corev1.LocalObjectReference) *appsv1.DaemonSet {
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("8Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
	}
	var cs []corev1.Container
	for i, img := range images {
		cs = append(cs, corev1.Container{
			Name: fmt.Sprintf("image-%d", i), Image: img.Image, ImagePullPolicy: img.Policy,
			// A no-op that keeps the container up if the image has a shell; an image
			// without one fails to start, after its pull, which is all that is needed.
			Command:   []string{"sh", "-c", "exec sleep 3600"},
			Resources: res,
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65534)),
				AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
				Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		})
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels,
			Annotations: map[string]string{annoHeartbeat: time.Now().UTC().Format(time.RFC3339)}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:                    cs,
					ImagePullSecrets:              pullSecrets,
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To(int64(0)),
				},
			},
		},
	}
}

// prePull pulls the template's images onto every node with a short-lived DaemonSet in
// the control namespace, waits (by watch) until every node's pod has created all its
// containers, and removes the DaemonSet whatever happened. A failed pull is an error
// naming the image and the node.
func (b *Backend) prePull(ctx context.Context, t *workshop.Template) error {
	images, err := templateImages(t)
	if err != nil {
		return fmt.Errorf("pre_pull: %w", err)
	}
	if err := b.ensureControlNamespace(ctx); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(t.Name + "\x00" + time.Now().String()))
	name := "nalabo-pre-pull-" + hex.EncodeToString(sum[:])[:12]
	labels := map[string]string{
		workshop.LabelManagedBy: workshop.ManagedByValue,
		workshop.LabelRole:      rolePrePull,
		"nalabo.io/pre-pull":    name,
	}
	if len(t.Name) <= 63 {
		labels[workshop.LabelTemplate] = t.Name
	}
	ns := b.cfg.Namespace
	start := time.Now()
	b.reapLeftoversQuietly(ctx)
	// The registry logins go with this pre-pull: a Secret of its own, removed with its
	// DaemonSet (nothing of registry_auth stays in the control namespace).
	var pullSecrets []corev1.LocalObjectReference
	secrets := b.cs.CoreV1().Secrets(ns)
	secretName := name + "-registry"
	if len(b.cfg.RegistryAuth) > 0 {
		secret, err := b.pullSecret(metav1.ObjectMeta{Namespace: ns, Labels: labels})
		if err != nil {
			return fmt.Errorf("pre_pull: %w", err)
		}
		secret.Name = secretName
		if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("pre_pull: write registry secret %s/%s: %w", ns, secretName, err)
		}
		pullSecrets = []corev1.LocalObjectReference{{Name: secretName}}
	}
	dss := b.cs.AppsV1().DaemonSets(ns)
	removeAll := func(cctx context.Context) {
		bg := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground), GracePeriodSeconds: ptr.To(int64(0))}
		if err := dss.Delete(cctx, name, bg); err != nil && !apierrors.IsNotFound(err) {
			tflog.Warn(ctx, "pre-pull daemon set not removed", map[string]any{"daemonset": name, "error": err.Error()})
		}
		if pullSecrets == nil {
			return
		}
		if err := secrets.Delete(cctx, secretName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			tflog.Warn(ctx, "pre-pull registry secret not removed", map[string]any{"secret": secretName, "error": err.Error()})
		}
	}
	ds, err := dss.Create(ctx, prePullDaemonSet(ns, name, labels, images, pullSecrets), metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
		defer cancel()
		removeAll(cctx)
		return fmt.Errorf("pre_pull: create daemon set %s: %w", name, err)
	}
	if pullSecrets != nil {
		// Owned by the DaemonSet: whoever removes it (a reconciler reaping a killed
		// pre-pull) removes the logins too, through the garbage collector.
		owner := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"DaemonSet","name":%q,"uid":%q}]}}`, ds.Name, ds.UID)
		if _, err := secrets.Patch(ctx, secretName, types.MergePatchType, []byte(owner), metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
			tflog.Warn(ctx, "pre-pull registry secret not owned by its daemon set", map[string]any{"secret": secretName, "error": err.Error()})
		}
	}
	defer func() {
		// Removed on a context of its own: also after a failure or the caller's timeout.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mutationTimeout)
		defer cancel()
		removeAll(cctx)
		// A pre-pull killed while this one ran is stale by now, unless it died just
		// before; the next pre-pull, template delete or reconciler pass gets that one.
		b.reapLeftoversQuietly(cctx)
	}()
	wctx, cancel := context.WithTimeout(ctx, prePullTimeout)
	defer cancel()
	go b.heartbeat(wctx, ns, name)
	nodes, err := b.waitPulled(wctx, ns, name, labels, images)
	if err != nil {
		return fmt.Errorf("pre_pull: %w", err)
	}
	tflog.Info(ctx, "template images pre-pulled", map[string]any{
		"template": t.Name, "images": len(images), "nodes": nodes, "duration_ms": time.Since(start).Milliseconds(),
	})
	return nil
}

// waitPulled watches the DaemonSet and its pods until each of the DaemonSet's desired
// pods has created all its containers; it returns the number of nodes.
func (b *Backend) waitPulled(ctx context.Context, ns, name string, labels map[string]string, images []pullImage) (int, error) {
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})
	dsW, err := b.cs.AppsV1().DaemonSets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return 0, fmt.Errorf("watch daemon set %s: %w", name, err)
	}
	defer dsW.Stop()
	podW, err := b.cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return 0, fmt.Errorf("watch pods of %s: %w", name, err)
	}
	defer podW.Stop()
	desired := -1
	pulled := map[string]bool{} // pod name -> all images pulled
	waiting := "no pod scheduled yet"
	for {
		if desired >= 0 && countTrue(pulled) >= desired {
			return desired, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("images not pulled on every node in time (%s): %w", waiting, ctx.Err())
		case ev, ok := <-dsW.ResultChan():
			if !ok {
				return 0, fmt.Errorf("watch of daemon set %s ended", name)
			}
			if ds, ok := ev.Object.(*appsv1.DaemonSet); ok && ds.Status.ObservedGeneration >= ds.Generation && ds.Generation > 0 {
				desired = int(ds.Status.DesiredNumberScheduled)
			}
		case ev, ok := <-podW.ResultChan():
			if !ok {
				return 0, fmt.Errorf("watch of the pods of %s ended", name)
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(pulled, pod.Name)
				continue
			}
			done, msg, err := podPulled(pod, images)
			if err != nil {
				return 0, err
			}
			pulled[pod.Name] = done
			if msg != "" {
				waiting = msg
			}
		}
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// pullFailures are container waiting reasons that say the image is not there and will
// not be (ImagePullBackOff: the kubelet already failed to pull it once).
var pullFailures = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true, "InvalidImageName": true,
	"RegistryUnavailable": true, "ErrImageInspect": true, "SignatureValidationFailed": true,
}

// podPulled says whether every container of a pre-pull pod got past its image pull; a
// pull failure is an error naming the image and the node.
func podPulled(pod *corev1.Pod, images []pullImage) (bool, string, error) {
	byName := map[string]string{}
	for i, img := range images {
		byName[fmt.Sprintf("image-%d", i)] = img.Image
	}
	node := pod.Spec.NodeName
	if node == "" {
		return false, "pod " + pod.Name + " not scheduled", nil
	}
	var pending []string
	seen := 0
	for _, cs := range pod.Status.ContainerStatuses {
		img := byName[cs.Name]
		if img == "" {
			continue
		}
		seen++
		w := cs.State.Waiting
		switch {
		case w != nil && pullFailures[w.Reason]:
			err := fmt.Errorf("image %q cannot be pulled on node %s: %s: %s", img, node, w.Reason, w.Message)
			if pullRefused(w.Reason, w.Message) {
				err = fmt.Errorf("%w\n%s", err, registryAuthHint(img))
			}
			return false, "", err
		case w != nil && (w.Reason == "" || w.Reason == "ContainerCreating") && cs.LastTerminationState.Terminated == nil:
			pending = append(pending, img)
		}
	}
	if seen < len(images) {
		return false, fmt.Sprintf("node %s: pod %s starting", node, pod.Name), nil
	}
	if len(pending) > 0 {
		return false, fmt.Sprintf("node %s: pulling %s", node, strings.Join(pending, ", ")), nil
	}
	return true, "", nil
}

// heartbeat stamps the pre-pull DaemonSet name with the time, every
// prePullHeartbeatEvery until ctx ends: the DaemonSet is looked after.
func (b *Backend) heartbeat(ctx context.Context, ns, name string) {
	t := time.NewTicker(prePullHeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, annoHeartbeat, now.UTC().Format(time.RFC3339))
			_, err := b.cs.AppsV1().DaemonSets(ns).Patch(ctx, name, types.MergePatchType, []byte(patch),
				metav1.PatchOptions{FieldManager: fieldManager})
			if err != nil && ctx.Err() == nil {
				tflog.Debug(ctx, "pre-pull heartbeat not written", map[string]any{"daemonset": name, "error": err.Error()})
			}
		}
	}
}

// ReapLeftovers removes what killed processes left in the control namespace: the
// pre-pull DaemonSets nobody looks after any more (heartbeat older than
// prePullStaleAfter; without one, created more than prePullTimeout ago), whose registry
// Secret (owned by the DaemonSet) the garbage collector removes. It returns how many
// it removed. It reads no Secret: the reconciler's role has no rights on them. The reconciler calls it every pass (workshop.LeftoverReaper).
func (b *Backend) ReapLeftovers(ctx context.Context) (int, error) {
	dss := b.cs.AppsV1().DaemonSets(b.cfg.Namespace)
	list, err := dss.List(ctx, prePullSelector)
	if err != nil {
		return 0, fmt.Errorf("list pre-pull daemon sets: %w", err)
	}
	now, n := time.Now(), 0
	for _, ds := range list.Items {
		if !prePullStale(&ds, now) {
			continue
		}
		bg := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground), GracePeriodSeconds: ptr.To(int64(0)),
			Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To(ds.ResourceVersion)}}
		switch err := dss.Delete(ctx, ds.Name, bg); {
		case err == nil:
			n++
			tflog.Info(ctx, "removed a pre-pull daemon set left by a killed process", map[string]any{
				"daemonset": ds.Name, "heartbeat": ds.Annotations[annoHeartbeat]})
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Gone meanwhile, or its creator just stamped it: alive after all.
		default:
			return n, fmt.Errorf("remove pre-pull daemon set %s: %w", ds.Name, err)
		}
	}
	return n, nil
}

// reapLeftoversQuietly is ReapLeftovers, plus the registry Secrets of pre-pulls killed
// before their Secret was owned by their DaemonSet, whose failure is only logged: a
// pre-pull or a template delete does not fail for a leftover of somebody else's.
func (b *Backend) reapLeftoversQuietly(ctx context.Context) {
	if _, err := b.ReapLeftovers(ctx); err != nil {
		tflog.Warn(ctx, "leftover pre-pull daemon sets not removed", map[string]any{"error": err.Error()})
	}
	if err := b.reapPrePullSecrets(ctx); err != nil {
		tflog.Warn(ctx, "leftover pre-pull registry secrets not removed", map[string]any{"error": err.Error()})
	}
}

// reapPrePullSecrets removes the pre-pull registry Secrets whose DaemonSet is gone,
// a minute old at least (a pre-pull between its Secret and its DaemonSet keeps it).
func (b *Backend) reapPrePullSecrets(ctx context.Context) error {
	secrets := b.cs.CoreV1().Secrets(b.cfg.Namespace)
	list, err := secrets.List(ctx, prePullSelector)
	if err != nil || len(list.Items) == 0 {
		return err
	}
	// Only when such Secrets exist (a pre-pull killed before its Secret was owned).
	dsList, err := b.cs.AppsV1().DaemonSets(b.cfg.Namespace).List(ctx, prePullSelector)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, ds := range dsList.Items {
		live[ds.Name] = true
	}
	for _, sec := range list.Items {
		if live[sec.Labels["nalabo.io/pre-pull"]] || time.Since(sec.CreationTimestamp.Time) < time.Minute {
			continue
		}
		if err := secrets.Delete(ctx, sec.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove pre-pull registry secret %s: %w", sec.Name, err)
		}
	}
	return nil
}

// prePullStale says whether nobody looks after the pre-pull DaemonSet ds any more.
func prePullStale(ds *appsv1.DaemonSet, now time.Time) bool {
	if hb, err := time.Parse(time.RFC3339, ds.Annotations[annoHeartbeat]); err == nil {
		return now.Sub(hb) > prePullStaleAfter
	}
	return now.Sub(ds.CreationTimestamp.Time) > prePullTimeout
}
