package kubernetes

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const httpdManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: httpd
        image: nalabo-test/httpd:1
        imagePullPolicy: IfNotPresent
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`

func testBackend(t *testing.T) *Backend {
	t.Helper()
	path := os.Getenv("NALABO_K8S_KUBECONFIG")
	if path == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set (start the test cluster: scripts/testcluster-up.sh)")
	}
	b, err := New(Config{ConfigPath: path, Namespace: "nalabo-test"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNamespaceSession(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	start := time.Now()
	info, err := b.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ping: %s, allocatable %dm / %d bytes (%s)", info.ServerVersion, info.AllocatableMilliCPU, info.AllocatableMemory, time.Since(start))

	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-intro", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests: httpdManifest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	if got, err := b.GetTemplate(ctx, tpl.ID); err != nil || got.Digest != tpl.Digest {
		t.Fatalf("GetTemplate: %v %v", got, err)
	}

	now := time.Now().UTC().Truncate(time.Second)
	spec := &workshop.SessionSpec{
		ID: workshop.NewSessionID(), Template: tpl, Participant: "ada",
		Resources: workshop.Resources{CPU: "2000m", Memory: "2Gi", Storage: "1Gi"},
		CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour),
	}
	start = time.Now()
	s, err := b.CreateSession(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("create (workspace + httpd Deployment ready): %s", time.Since(start))
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), spec.ID) })
	if s.Status != workshop.StatusRunning || s.Kubeconfig == "" || s.Namespace != "nalabo-session-"+spec.ID {
		t.Fatalf("session: %+v", s)
	}
	if s.Resources.CPU != "2000m" || s.Resources.Memory != "2Gi" {
		t.Fatalf("resources: %+v", s.Resources)
	}

	start = time.Now()
	res, err := b.Exec(ctx, spec.ID, &workshop.ExecRequest{Command: []string{"kubectl", "get", "pods"}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exec kubectl get pods (%s): exit %d\n%s%s", time.Since(start), res.ExitCode, res.Stdout, res.Stderr)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "web-") || !strings.Contains(res.Stdout, "workspace") {
		t.Fatalf("kubectl get pods in the workspace: exit %d\nstdout: %s\nstderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
	res, err = b.Exec(ctx, spec.ID, &workshop.ExecRequest{Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if err != nil || res.ExitCode != 3 || res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Fatalf("exit code: %+v %v", res, err)
	}
	res, err = b.Exec(ctx, spec.ID, &workshop.ExecRequest{Command: []string{"sh", "-c", "echo $GREETING; pwd"},
		Env: map[string]string{"GREETING": "it's me"}, WorkingDir: "/tmp"})
	if err != nil || res.ExitCode != 0 || res.Stdout != "it's me\n/tmp\n" {
		t.Fatalf("env and working dir: %+v %v", res, err)
	}
	if _, err := b.CreateSession(ctx, spec); err == nil {
		t.Fatal("creating a session whose namespace exists must fail")
	}
	if _, err := b.GetSession(ctx, spec.ID); err != nil {
		t.Fatalf("a failed duplicate create removed the session: %v", err)
	}
	res, err = b.Exec(ctx, spec.ID, &workshop.ExecRequest{Command: []string{"sleep", "10"}, Timeout: time.Second})
	if err != nil || !res.TimedOut {
		t.Fatalf("timeout: %+v %v", res, err)
	}

	// The participant's kubeconfig: own namespace yes, other namespaces and cluster scope no.
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(s.Kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	pc := k8s.NewForConfigOrDie(rc)
	if _, err := pc.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("participant cannot list its own pods: %v", err)
	}
	if _, err := pc.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("participant in kube-system: want forbidden, got %v", err)
	}
	if _, err := pc.CoreV1().ConfigMaps(b.cfg.Namespace).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("participant in the control namespace: want forbidden, got %v", err)
	}
	if _, err := pc.RbacV1().Roles(s.Namespace).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "escalate"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("participant creating a role: want forbidden, got %v", err)
	}
	if _, err := pc.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("participant at cluster scope: want forbidden, got %v", err)
	}
	// Pod Security rejects a privileged pod.
	priv := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "priv"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "nalabo-test/k8s-workspace:1", ImagePullPolicy: corev1.PullNever,
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}}},
	}
	if _, err := pc.CoreV1().Pods(s.Namespace).Create(ctx, priv, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("privileged pod: want forbidden, got %v", err)
	}

	// The quota rejects a pod over the session's resources.
	big := priv.DeepCopy()
	big.Name = "big"
	big.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	big.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	big.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
	if _, err := pc.CoreV1().Pods(s.Namespace).Create(ctx, big, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("pod over the quota: want exceeded quota, got %v", err)
	}
	nps, err := b.cs.NetworkingV1().NetworkPolicies(s.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil || len(nps.Items) != 2 {
		t.Fatalf("network policies: %v %v", nps, err)
	}

	// Update: quota and expiry in place.
	spec.Resources.CPU = "1500m"
	spec.ExpiresAt = spec.ExpiresAt.Add(time.Hour)
	spec.Duration = 2 * time.Hour
	s, err = b.UpdateSession(ctx, spec.ID, spec)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.CPU != "1500m" || !s.ExpiresAt.Equal(spec.ExpiresAt) {
		t.Fatalf("after update: %+v", s)
	}
	list, err := b.ListSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range list {
		found = found || l.ID == spec.ID
	}
	if !found {
		t.Fatalf("ListSessions misses %s", spec.ID)
	}

	start = time.Now()
	if err := b.DeleteSession(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("delete (namespace gone): %s", time.Since(start))
	if _, err := b.cs.CoreV1().Namespaces().Get(ctx, s.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace still there: %v", err)
	}
	if _, err := b.GetSession(ctx, spec.ID); !errors.Is(err, workshop.ErrNotFound) {
		t.Fatalf("GetSession after delete: %v", err)
	}
	if err := b.DeleteSession(ctx, spec.ID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func TestCreateFailureCleansUp(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: "k8s-broken", Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/does-not-exist:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	now := time.Now()
	spec := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: "bob", CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour)}
	cctx, ccancel := context.WithTimeout(ctx, 8*time.Second)
	defer ccancel()
	if _, err := b.CreateSession(cctx, spec); err == nil {
		t.Fatal("a workspace image that cannot be pulled must fail the create")
	}
	if _, err := b.cs.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(spec.ID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace left behind: %v", err)
	}
}
