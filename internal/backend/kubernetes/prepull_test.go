package kubernetes

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const prePullManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
      - {name: init, image: nalabo-test/k8s-workspace:1}
      containers:
      - {name: httpd, image: nalabo-test/httpd:1, imagePullPolicy: Always}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: c, image: nalabo-test/local-only:1, imagePullPolicy: Never}
`

func TestPrePullTemplateImages(t *testing.T) {
	got, err := templateImages(&workshop.Template{
		Name: "x", Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1"}, Manifests: prePullManifest,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []pullImage{
		{"nalabo-test/httpd:1", corev1.PullIfNotPresent}, // Always is not forced: a pre-pull must not hit a registry each time
		{"nalabo-test/k8s-workspace:1", corev1.PullIfNotPresent},
		{"nalabo-test/local-only:1", corev1.PullNever},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("images:\n got %+v\nwant %+v", got, want)
	}
}

func TestPrePullPodPulled(t *testing.T) {
	images := []pullImage{{Image: "a:1"}, {Image: "b:1"}}
	pod := func(states ...corev1.ContainerState) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{NodeName: "n1"}}
		for i, s := range states {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "image-" + string(rune('0'+i)), State: s})
		}
		return p
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	creating := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	crash := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}} // no shell: pulled anyway
	never := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "not present"}}
	for _, c := range []struct {
		name    string
		pod     *corev1.Pod
		done    bool
		errWant string
	}{
		{"no status yet", pod(), false, ""},
		{"one pulling", pod(running, creating), false, ""},
		{"pulled (one without a shell)", pod(running, crash), true, ""},
		{"missing image", pod(running, never), false, `image "b:1" cannot be pulled on node n1: ErrImageNeverPull`},
	} {
		done, _, err := podPulled(c.pod, images)
		if done != c.done || (err == nil) != (c.errWant == "") || (err != nil && !strings.Contains(err.Error(), c.errWant)) {
			t.Errorf("%s: done %v err %v; want %v %q", c.name, done, err, c.done, c.errWant)
		}
	}
}

// TestPrePull: on the test cluster, a template's images are on the node after
// ApplyTemplate, its DaemonSet ran and is gone; an image that is not there (pull policy
// Never: nothing asks a registry) fails the template with the image's name, and leaves
// no DaemonSet either.
func TestPrePull(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := b.ensureControlNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	dss := b.cs.AppsV1().DaemonSets(b.cfg.Namespace)
	sel := metav1.ListOptions{LabelSelector: workshop.LabelRole + "=" + rolePrePull}
	w, err := dss.Watch(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	start := time.Now()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-pre-pull", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests: httpdManifest, PrePull: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	t.Logf("template with pre-pull of 2 images: %s", time.Since(start))

	// Positive control: the pre-pull's DaemonSet was there, and was deleted.
	added, deleted := 0, 0
	for added == 0 || deleted == 0 {
		select {
		case ev := <-w.ResultChan():
			switch ev.Type {
			case watch.Added:
				added++
			case watch.Deleted:
				deleted++
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("daemon set events: %d added, %d deleted; want the pre-pull's creation and deletion", added, deleted)
		}
	}
	left, err := dss.List(ctx, sel)
	if err != nil || len(left.Items) != 0 {
		t.Fatalf("pre-pull daemon sets left: %v %v", left, err)
	}
	nodes, err := b.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		for _, want := range []string{"nalabo-test/k8s-workspace:1", "nalabo-test/httpd:1"} {
			if !nodeHasImage(&n, want) {
				t.Errorf("node %s: image %s not in its status", n.Name, want)
			}
		}
	}

	_, err = b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-pre-pull-missing", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1"},
		Manifests: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: nalabo-test/does-not-exist:1, imagePullPolicy: Never}\n",
		PrePull:   true,
	})
	if err == nil || !strings.Contains(err.Error(), `image "nalabo-test/does-not-exist:1" cannot be pulled`) {
		t.Fatalf("template with a missing image: %v; want an error naming the image", err)
	}
	t.Logf("missing image: %v", err)
	if left, err := dss.List(ctx, sel); err != nil || len(left.Items) != 0 {
		t.Fatalf("pre-pull daemon sets left after a failure: %v %v", left, err)
	}
}

func nodeHasImage(n *corev1.Node, ref string) bool {
	for _, img := range n.Status.Images {
		for _, name := range img.Names {
			if name == ref || strings.HasSuffix(name, "/"+ref) {
				return true
			}
		}
	}
	return false
}

// TestPrePullLeftovers: a terraform apply killed during a pre-pull (SIGKILL: no
// deferred delete runs) leaves its DaemonSet, with a pod on every node. The next
// pre-pull removes it; a DaemonSet whose creator is alive (fresh heartbeat) stays
// (the positive control), until its heartbeat is stale too. Its own control namespace:
// TestPrePull watches nalabo-test's pre-pull DaemonSets.
func TestPrePullLeftovers(t *testing.T) {
	base := testBackend(t)
	// With registry logins: the pre-pull's Secret goes with its DaemonSet. The images
	// are on the node: nothing asks registry.invalid.
	b, err := New(Config{ConfigPath: base.cfg.ConfigPath, Namespace: "nalabo-test-leftovers",
		RegistryAuth: config.RegistryAuths{{Address: "registry.invalid", Username: "u", Password: "leftover-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := b.ensureControlNamespace(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.cs.CoreV1().Namespaces().Delete(context.Background(), b.cfg.Namespace, metav1.DeleteOptions{})
	})
	dss := b.cs.AppsV1().DaemonSets(b.cfg.Namespace)
	images := []pullImage{{Image: "nalabo-test/k8s-workspace:1", Policy: corev1.PullIfNotPresent}}
	// What a killed process leaves: the DaemonSet as prePull creates it, its last
	// heartbeat a minute old.
	leave := func(name string, heartbeat time.Time) {
		t.Helper()
		labels := map[string]string{workshop.LabelManagedBy: workshop.ManagedByValue, workshop.LabelRole: rolePrePull,
			"nalabo.io/pre-pull": name}
		ds := prePullDaemonSet(b.cfg.Namespace, name, labels, images, nil)
		ds.Annotations[annoHeartbeat] = heartbeat.UTC().Format(time.RFC3339)
		if _, err := dss.Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dss.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	leave("nalabo-pre-pull-killed", time.Now().Add(-time.Minute))
	leave("nalabo-pre-pull-alive", time.Now())

	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-leftovers", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		PrePull:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	if _, err := dss.Get(ctx, "nalabo-pre-pull-killed", metav1.GetOptions{}); err == nil {
		t.Fatal("the killed pre-pull's DaemonSet is still there after the next pre-pull")
	}
	if _, err := dss.Get(ctx, "nalabo-pre-pull-alive", metav1.GetOptions{}); err != nil {
		t.Fatalf("positive control: the DaemonSet of a live pre-pull was removed: %v", err)
	}
	prePullSecrets := func() int {
		t.Helper()
		l, err := b.cs.CoreV1().Secrets(b.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: workshop.LabelRole + "=" + rolePrePull})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	if n := prePullSecrets(); n != 0 {
		t.Fatalf("%d pre-pull registry secrets left after a pre-pull with registry_auth", n)
	}
	// A killed pre-pull's Secret is owned by its DaemonSet: removed with it by the
	// garbage collector (whoever removes the DaemonSet).
	labels := map[string]string{workshop.LabelManagedBy: workshop.ManagedByValue, workshop.LabelRole: rolePrePull,
		"nalabo.io/pre-pull": "nalabo-pre-pull-alive"}
	alive, err := dss.Get(ctx, "nalabo-pre-pull-alive", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := b.pullSecret(metav1.ObjectMeta{Namespace: b.cfg.Namespace, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: alive.Name, UID: alive.UID}}})
	if err != nil {
		t.Fatal(err)
	}
	sec.Name = "nalabo-pre-pull-alive-registry"
	if _, err := b.cs.CoreV1().Secrets(b.cfg.Namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Its creator dies too: stale once prePullStaleAfter has passed since its heartbeat.
	patch := `{"metadata":{"annotations":{"` + annoHeartbeat + `":"` + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) + `"}}}`
	if _, err := dss.Patch(ctx, "nalabo-pre-pull-alive", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	n, err := b.ReapLeftovers(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ReapLeftovers = %d, %v; want 1 removed", n, err)
	}
	if left, err := dss.List(ctx, metav1.ListOptions{}); err != nil || len(left.Items) != 0 {
		t.Fatalf("daemon sets left: %v %v", left, err)
	}
	for deadline := time.Now().Add(time.Minute); prePullSecrets() != 0; time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("the killed pre-pull's registry secret outlived its DaemonSet by a minute")
		}
	}
}

func TestPrePullStale(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ds := prePullDaemonSet("ns", "n", map[string]string{"a": "b"}, nil, nil)
	for _, c := range []struct {
		heartbeat string
		created   time.Time
		want      bool
	}{
		{now.Add(-10 * time.Second).Format(time.RFC3339), now.Add(-time.Hour), false}, // alive, however old
		{now.Add(-prePullStaleAfter - time.Second).Format(time.RFC3339), now, true},
		{"", now.Add(-prePullTimeout + time.Minute), false}, // no heartbeat (older provider): by age
		{"", now.Add(-prePullTimeout - time.Minute), true},
		{"garbage", now.Add(-prePullTimeout - time.Minute), true},
	} {
		ds.Annotations[annoHeartbeat] = c.heartbeat
		ds.CreationTimestamp = metav1.NewTime(c.created)
		if got := prePullStale(ds, now); got != c.want {
			t.Errorf("heartbeat %q created %s: stale = %v, want %v", c.heartbeat, c.created, got, c.want)
		}
	}
}
