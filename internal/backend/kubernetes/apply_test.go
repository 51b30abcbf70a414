package kubernetes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	corev1 "k8s.io/api/core/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// --- unit tests (no cluster) ---

func TestApplyObjectKind(t *testing.T) {
	for _, gk := range []schema.GroupKind{
		{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"},
		{Group: "example.com", Kind: "Widget"}, {Group: "rbac.authorization.k8s.io", Kind: "Role"},
	} {
		s := ObjectKind(gk)
		if got := ParseObjectKind(s); got != gk {
			t.Errorf("%v -> %q -> %v", gk, s, got)
		}
	}
	if ObjectKind(schema.GroupKind{Group: "apps", Kind: "Deployment"}) != "Deployment.apps" {
		t.Fatal("Deployment in apps must be Deployment.apps")
	}
}

func TestApplyParseYAML(t *testing.T) {
	const ns = "nalabo-session-abc123"
	content := "---\n" + // a leading separator opens the first document
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: " + ns + "\n  labels: {app: demo, nalabo.io/apply: forged}\n" +
		"  resourceVersion: \"42\"\ndata: {replicas: \"1\"}\n---\n---\n" + // an empty document counts, as at plan time
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\nstatus: {replicas: 9}\n"
	docs, err := parseApplyYAML(content, ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].n != 1 || docs[1].n != 3 {
		t.Fatalf("documents: %+v", docs)
	}
	if docs[0].String() != "document 1 (ConfigMap settings)" || docs[1].ref().key() != "Deployment.apps/web" {
		t.Fatalf("names: %s, %s", docs[0], docs[1].ref().key())
	}
	if docs[0].obj.GetResourceVersion() != "" {
		t.Fatal("resourceVersion must be dropped")
	}
	if _, ok := docs[1].obj.Object["status"]; ok {
		t.Fatal("status must be dropped")
	}
	if r, _, _ := unstructuredInt(docs[1].obj.Object, "spec", "replicas"); r != 2 {
		t.Fatalf("replicas decode as int64 2, got %v", docs[1].obj.Object["spec"])
	}

	session := map[string]string{workshop.LabelSession: "abc123", workshop.LabelManagedBy: workshop.ManagedByValue}
	l := applyLabels(docs[0].obj.GetLabels(), session, "feed01")
	if l["app"] != "demo" || l[workshop.LabelApply] != "feed01" || l[workshop.LabelSession] != "abc123" || l[workshop.LabelManagedBy] != workshop.ManagedByValue {
		t.Fatalf("labels: %v", l)
	}

	bad := []struct{ content, want string }{
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n", `document 1 (ConfigMap a): metadata.namespace is "default"`},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: boom}\n", "document 2 (ClusterRole boom): ClusterRole is cluster-scoped"},
		{"apiVersion: v1\nkind: ConfigMapList\nitems: []\n", "document 1 (ConfigMapList): lists are not supported"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "document 2 (ConfigMap a): the same object as document 1"},
		{"apiVersion: v1\nmetadata: {name: a}\n", "document 1 (line 1): has no kind"},
		{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: [\n", "not valid YAML"},
		{"---\n---\n", "no Kubernetes object"},
	}
	for _, c := range bad {
		_, err := parseApplyYAML(c.content, ns)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: want an error containing %q, got %v", c.content, c.want, err)
			continue
		}
		var fe *workshop.FieldError
		if !errors.As(err, &fe) || fe.Path != "configuration" {
			t.Errorf("%q: want a FieldError on configuration, got %T %v", c.content, err, err)
		}
	}
}

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	cur := any(obj)
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false, nil
		}
		cur = m[f]
	}
	v, ok := cur.(int64)
	return v, ok, nil
}

func TestApplySortForApply(t *testing.T) {
	docs, err := parseApplyYAML("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\n"+
		"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n"+
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"+
		"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "ns")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range sortForApply(docs) {
		got = append(got, d.obj.GetKind())
	}
	if strings.Join(got, ",") != "ConfigMap,Service,Widget,Deployment" {
		t.Fatalf("order: %v", got)
	}
}

func TestApplyStatusNames(t *testing.T) {
	for s, want := range map[status.Status]string{
		status.CurrentStatus: "ready", status.InProgressStatus: "in_progress", status.NotFoundStatus: "missing",
		status.FailedStatus: "failed", status.TerminatingStatus: "terminating", status.UnknownStatus: "unknown",
	} {
		if got := kstatusName(s); got != want {
			t.Errorf("%s: %s, want %s", s, got, want)
		}
	}
}

// TestApplyTypeChecks needs no cluster: the type is checked before anything is read.
func TestApplyTypeChecks(t *testing.T) {
	b, err := New(Config{Host: "https://127.0.0.1:1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{workshop.ConfigCompose, workshop.ConfigDockerfile} {
		_, err := b.ApplyConfig(context.Background(), "abc123", &workshop.Config{ID: "feed01", Type: typ, Content: "x"}, nil)
		var fe *workshop.FieldError
		if !errors.As(err, &fe) || fe.Path != "type" || !strings.Contains(err.Error(), `"`+typ+`"`) || !strings.Contains(err.Error(), "docker session") {
			t.Errorf("%s on a Kubernetes session: %v", typ, err)
		}
	}
	if _, err := b.ApplyConfig(context.Background(), "abc123", &workshop.Config{ID: "feed01", Type: "helm"}, nil); err == nil {
		t.Error("an unknown type must be refused")
	}
	if _, err := b.ApplyConfig(context.Background(), "abc123", &workshop.Config{ID: "NOT-HEX!", Type: "yaml"}, nil); err == nil {
		t.Error("a malformed apply ID must be refused")
	}
}

// --- integration tests (the real cluster, NALABO_K8S_KUBECONFIG) ---

// applyWeb is a ConfigMap and a restricted-compliant httpd Deployment.
const applyConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
`

const applyDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      securityContext:
        runAsNonRoot: true
        runAsUser: 101
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: httpd
        image: nalabo-test/httpd:1
        imagePullPolicy: IfNotPresent
        envFrom:
        - configMapRef: {name: settings, optional: true}
        resources:
          limits: {cpu: 100m, memory: 64Mi}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
`

// applyBrokenPod never starts (image not present, never pulled): readiness fails.
const applyBrokenPod = `apiVersion: v1
kind: Pod
metadata:
  name: broken
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: c
    image: nalabo-test/does-not-exist:1
    imagePullPolicy: Never
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
`

// applyPrivilegedPod is refused by the namespace's Pod Security admission.
const applyPrivilegedPod = `apiVersion: v1
kind: Pod
metadata:
  name: privileged
spec:
  containers:
  - name: c
    image: nalabo-test/pause:1
    imagePullPolicy: Never
    securityContext: {privileged: true}
`

// applySession creates a workspace-only namespace session and removes it at the end.
func applySession(t *testing.T, ctx context.Context, b *Backend) string {
	t.Helper()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-apply", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Resources: workshop.Resources{CPU: "1000m", Memory: "1Gi", Storage: "1Gi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	now := time.Now()
	id := workshop.NewSessionID()
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), id) })
	if _, err := b.CreateSession(ctx, &workshop.SessionSpec{ID: id, Template: tpl, Participant: "ada",
		CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return id
}

// applyObjectsLabelled lists ConfigMaps, Pods and Deployments labelled with the apply.
func applyObjectsLabelled(t *testing.T, ctx context.Context, b *Backend, sessionID, applyID string) []string {
	t.Helper()
	refs, err := b.listApplyObjects(ctx, workshop.SessionObjectName(sessionID), workshop.LabelApply+"="+applyID,
		[]schema.GroupKind{{Kind: "ConfigMap"}, {Kind: "Pod"}, {Group: "apps", Kind: "Deployment"}, {Kind: "Service"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range refs {
		out = append(out, r.key())
	}
	return out
}

func objectStatuses(inv *workshop.Inventory) string {
	var parts []string
	for _, o := range inv.Objects {
		parts = append(parts, o.Kind+"/"+o.Name+"="+o.Status)
	}
	return strings.Join(parts, " ")
}

// TestApplyYAML: apply, label, prune, refusals, undo on failure, read, delete.
func TestApplyYAML(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	sid := applySession(t, ctx, b)
	ns := workshop.SessionObjectName(sid)
	core := b.cs.CoreV1()

	// An object the participant created before: no apply may take it over or remove it.
	keep := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Data: map[string]string{"a": "b"}}
	if _, err := core.ConfigMaps(ns).Create(ctx, keep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// 1. A ConfigMap and a Deployment: applied, labelled, ready.
	const id = "a1b2c3d4e5f60718"
	start := time.Now()
	inv, err := b.ApplyConfig(ctx, sid, &workshop.Config{ID: id, Type: "yaml", Content: applyConfigMap + "---\n" + applyDeployment}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply ConfigMap + Deployment (ready): %s: %s", time.Since(start), objectStatuses(inv))
	if got := objectStatuses(inv); got != "ConfigMap/settings=ready Deployment.apps/web=ready" || inv.ApplyID != id {
		t.Fatalf("inventory: %s (%s)", got, inv.ApplyID)
	}
	dep, err := b.cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Status.AvailableReplicas != 1 {
		t.Fatalf("deployment not available: %+v", dep.Status)
	}
	for k, v := range map[string]string{workshop.LabelApply: id, workshop.LabelSession: sid, workshop.LabelManagedBy: workshop.ManagedByValue,
		workshop.LabelParticipant: "ada", workshop.LabelTemplate: "k8s-apply", "app": "web"} {
		if dep.Labels[k] != v {
			t.Errorf("deployment label %s=%q, want %q", k, dep.Labels[k], v)
		}
	}
	if _, ok := dep.Labels[workshop.LabelExpiresAt]; !ok {
		t.Error("deployment has no expires-at label")
	}
	var managed bool
	for _, mf := range dep.ManagedFields {
		managed = managed || (mf.Manager == fieldManager && mf.Operation == metav1.ManagedFieldsOperationApply)
	}
	if !managed {
		t.Errorf("the deployment was not server-side applied by %q: %+v", fieldManager, dep.ManagedFields)
	}
	depUID := dep.UID

	// 2. Refusals, before anything changes: another namespace, a cluster-scoped kind, an
	// object the apply does not own. Nothing of them is left behind.
	refusals := []struct{ id, content, want string }{
		{"b0000001", applyConfigMap + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: elsewhere, namespace: default}\n",
			`document 2 (ConfigMap elsewhere): metadata.namespace is "default"`},
		{"b0000002", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: nalabo-apply-boom}\nrules: []\n",
			"document 2 (ClusterRole nalabo-apply-boom): ClusterRole is cluster-scoped"},
		{"b0000003", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep}\ndata: {a: changed}\n",
			"document 2 (ConfigMap keep): the session already has ConfigMap keep"},
		{"b0000004", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: workspace}\n",
			"document 2 (Pod workspace): the session already has Pod workspace"},
		{"b0000005", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
			"document 2 (Widget w): the cluster does not serve Widget"},
	}
	for _, c := range refusals {
		_, err := b.ApplyConfig(ctx, sid, &workshop.Config{ID: c.id, Type: "yaml", Content: c.content}, nil)
		var fe *workshop.FieldError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &fe) {
			t.Errorf("apply %s: want a FieldError containing %q, got %v", c.id, c.want, err)
		}
		if left := applyObjectsLabelled(t, ctx, b, sid, c.id); len(left) > 0 {
			t.Errorf("apply %s left %v behind", c.id, left)
		}
	}
	if _, err := b.cs.RbacV1().ClusterRoles().Get(ctx, "nalabo-apply-boom", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("cluster role created: %v", err)
	}
	if cm, err := core.ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{}); err != nil || cm.Data["a"] != "b" || cm.Labels[workshop.LabelApply] != "" {
		t.Errorf("the participant's ConfigMap was changed: %+v %v", cm, err)
	}

	// 3. Failures after something was applied: what this call created is removed.
	// (a) Pod Security refuses the second object; (b) a pod never becomes ready.
	for _, c := range []struct{ id, content, want string }{
		{"c0000001", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fresh}\n---\n" + applyPrivilegedPod, "document 2 (Pod privileged)"},
		{"c0000002", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fresh}\n---\n" + applyBrokenPod, "pod broken cannot start"},
	} {
		_, err := b.ApplyConfig(ctx, sid, &workshop.Config{ID: c.id, Type: "yaml", Content: c.content}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("apply %s: want an error containing %q, got %v", c.id, c.want, err)
		}
		if left := applyObjectsLabelled(t, ctx, b, sid, c.id); len(left) > 0 {
			t.Errorf("failed apply %s left %v behind", c.id, left)
		}
	}
	// (c) An update that fails removes what it added, not what the apply had before.
	_, err = b.ApplyConfig(ctx, sid, &workshop.Config{ID: id, Type: "yaml", Content: applyConfigMap + "---\n" + applyDeployment + "---\n" + applyBrokenPod}, inv)
	if err == nil || !strings.Contains(err.Error(), "pod broken cannot start") {
		t.Fatalf("update with a broken pod: %v", err)
	}
	if got := strings.Join(applyObjectsLabelled(t, ctx, b, sid, id), " "); got != "ConfigMap/settings Deployment.apps/web" {
		t.Fatalf("after a failed update the apply holds %q, want its earlier objects only", got)
	}

	// 4. Re-apply without the ConfigMap: it is pruned, the Deployment stays (same object).
	start = time.Now()
	inv, err = b.ApplyConfig(ctx, sid, &workshop.Config{ID: id, Type: "yaml", Content: applyDeployment}, inv)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("re-apply without the ConfigMap (pruned): %s", time.Since(start))
	if got := objectStatuses(inv); got != "Deployment.apps/web=ready" {
		t.Fatalf("inventory after prune: %s", got)
	}
	if _, err := core.ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pruned ConfigMap still there: %v", err)
	}
	if dep, err := b.cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || dep.UID != depUID {
		t.Fatalf("the deployment was replaced or removed: %v", err)
	}
	// A lost inventory (prev nil) still prunes by the inventory label.
	inv, err = b.ApplyConfig(ctx, sid, &workshop.Config{ID: id, Type: "yaml", Content: applyConfigMap + "---\n" + applyDeployment}, inv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = b.ApplyConfig(ctx, sid, &workshop.Config{ID: id, Type: "yaml", Content: applyDeployment}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := core.ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap not pruned by label: %v", err)
	}
	inv, err = b.ApplyConfig(ctx, sid, &workshop.Config{ID: id, Type: "yaml", Content: applyConfigMap + "---\n" + applyDeployment}, inv)
	if err != nil {
		t.Fatal(err)
	}

	// 5. Read: an object deleted out of band is missing.
	if err := core.ConfigMaps(ns).Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := b.ReadConfig(ctx, sid, inv)
	if err != nil {
		t.Fatal(err)
	}
	if s := objectStatuses(got); s != "ConfigMap/settings=missing Deployment.apps/web=ready" {
		t.Fatalf("read after an out-of-band delete: %s", s)
	}

	// 6. Delete: only the apply's objects go (the workspace and the participant's stay).
	start = time.Now()
	if err := b.DeleteConfig(ctx, sid, got); err != nil {
		t.Fatal(err)
	}
	t.Logf("delete the apply (Deployment and its pods gone): %s", time.Since(start))
	if _, err := b.cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment still there: %v", err)
	}
	pods, err := core.Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("the deployment's pods are still there (foreground deletion): %d %v", len(pods.Items), err)
	}
	if _, err := core.ConfigMaps(ns).Get(ctx, "keep", metav1.GetOptions{}); err != nil {
		t.Fatalf("the participant's ConfigMap was removed: %v", err)
	}
	if _, err := core.Pods(ns).Get(ctx, workspacePodName, metav1.GetOptions{}); err != nil {
		t.Fatalf("the workspace was removed: %v", err)
	}
	if err := b.DeleteConfig(ctx, sid, got); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if got, err := b.ReadConfig(ctx, sid, got); err != nil || objectStatuses(got) != "ConfigMap/settings=missing Deployment.apps/web=missing" {
		t.Fatalf("read after delete: %v %v", got, err)
	}

	// 7. A session that is gone: delete is a no-op, read says not found.
	if err := b.DeleteConfig(ctx, "0000000000", got); err != nil {
		t.Fatalf("delete in a missing session: %v", err)
	}
	if _, err := b.ReadConfig(ctx, "0000000000", got); !errors.Is(err, workshop.ErrNotFound) {
		t.Fatalf("read in a missing session: %v", err)
	}
	if _, err := b.ApplyConfig(ctx, "0000000000", &workshop.Config{ID: id, Type: "yaml", Content: applyConfigMap}, nil); !errors.Is(err, workshop.ErrNotFound) {
		t.Fatalf("apply to a missing session: %v", err)
	}
}
