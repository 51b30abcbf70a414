// Package smoke checks that the local test cluster (scripts/testcluster-up.sh) behaves like
// the real clusters the Kubernetes backend targets: Pod Security admission, ResourceQuota,
// RBAC for a service account, pods running the workspace and web images, exec, in-cluster
// access to the API through kube-proxy's service IP, and namespace deletion.
//
// It needs a running cluster: it reads $TESTCLUSTER_KUBECONFIG (default
// /var/cache/nalabo/k8s/kubeconfig) and skips when that file is absent, unless
// TESTCLUSTER_REQUIRED=1 (scripts/testcluster-smoke.sh sets it), when it fails instead.
package smoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/utils/ptr"
)

const defaultKubeconfig = "/var/cache/nalabo/k8s/kubeconfig"

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

var (
	workspaceImage = env("TESTCLUSTER_WORKSPACE_IMAGE", "nalabo-test/k8s-workspace:1")
	httpdImage     = env("TESTCLUSTER_HTTPD_IMAGE", "nalabo-test/httpd:1")
)

func connect(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	path := env("TESTCLUSTER_KUBECONFIG", defaultKubeconfig)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("TESTCLUSTER_REQUIRED") == "1" {
			t.Fatalf("no test cluster kubeconfig at %s (run scripts/testcluster-up.sh): %v", path, err)
		}
		t.Skipf("no test cluster kubeconfig at %s (run scripts/testcluster-up.sh)", path)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, cs
}

// restricted is a container security context that Pod Security "restricted" admits.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func resources(cpu, mem string) corev1.ResourceRequirements {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	return corev1.ResourceRequirements{Requests: rl, Limits: rl}
}

func pod(name, image string, res corev1.ResourceRequirements, sc *corev1.SecurityContext) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "main", Image: image, ImagePullPolicy: corev1.PullNever,
				Resources: res, SecurityContext: sc,
			}},
		},
	}
}

// execIn runs cmd in the pod's first container through the API (WebSocket, falling back
// to SPDY) and returns stdout, stderr and the exit code.
func execIn(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, name string, cmd ...string) (string, string, int, error) {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return "", "", -1, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return "", "", -1, err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, httpstream.IsUpgradeFailure)
	if err != nil {
		return "", "", -1, err
	}
	var stdout, stderr bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	var exitErr utilexec.CodeExitError
	if errors.As(err, &exitErr) {
		return stdout.String(), stderr.String(), exitErr.Code, nil
	}
	if err != nil {
		return stdout.String(), stderr.String(), -1, err
	}
	return stdout.String(), stderr.String(), 0, nil
}

func waitPodReady(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not created yet or a transient error: poll again until the timeout
		}
		last = p
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s not ready: %v; last status: %+v", ns, name, err, last)
	}
}

func TestSmoke(t *testing.T) {
	cfg, cs := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	step := func(format string, args ...any) {
		t.Logf("%6.2fs  %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	ns := "smoke-" + hex.EncodeToString(suffix)
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns,
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	defer func() {
		if !deleted {
			_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
	}()
	step("namespace %s created (Pod Security: restricted)", ns)

	// The default service account (serviceaccount controller) and the root CA config map
	// (root-ca publisher) that every pod's projected token volume needs.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, e1 := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		_, e2 := cs.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return e1 == nil && e2 == nil, nil
	})
	if err != nil {
		t.Fatalf("default service account / kube-root-ca.crt never appeared: %v", err)
	}
	step("default service account and kube-root-ca.crt present")

	// Pod Security: a privileged pod is refused.
	priv := pod("privileged", workspaceImage, resources("100m", "64Mi"), &corev1.SecurityContext{Privileged: ptr.To(true)})
	_, err = cs.CoreV1().Pods(ns).Create(ctx, priv, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("privileged pod: want Forbidden by PodSecurity, got %v", err)
	}
	step("privileged pod refused: %v", err)

	// ResourceQuota: wait until the controller has set status.hard, then exceed it.
	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "session"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceRequestsCPU:    resource.MustParse("500m"),
			corev1.ResourceLimitsCPU:      resource.MustParse("500m"),
			corev1.ResourceRequestsMemory: resource.MustParse("256Mi"),
			corev1.ResourceLimitsMemory:   resource.MustParse("256Mi"),
			corev1.ResourcePods:           resource.MustParse("4"),
		}},
	}
	if _, err := cs.CoreV1().ResourceQuotas(ns).Create(ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "session", metav1.GetOptions{})
		return err == nil && len(q.Status.Hard) > 0, nil
	})
	if err != nil {
		t.Fatalf("quota status never set (resourcequota controller?): %v", err)
	}
	big := pod("too-big", workspaceImage, resources("1", "64Mi"), restricted())
	_, err = cs.CoreV1().Pods(ns).Create(ctx, big, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
		t.Fatalf("pod over quota: want Forbidden (exceeded quota), got %v", err)
	}
	step("pod over quota refused: %v", err)

	// RBAC: the namespace's default service account may read pods here, nothing more.
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The "nginx-demo" shape: a Deployment of the httpd image behind a Service.
	labels := map[string]string{"app": "web"}
	webPod := pod("", httpdImage, resources("100m", "32Mi"), restricted())
	webPod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	webPod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 1,
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: webPod.Spec},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The workspace pod: shell + kubectl, its service account token mounted.
	ws := pod("workspace", workspaceImage, resources("200m", "128Mi"), restricted())
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, ws, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodReady(ctx, t, cs, ns, "workspace")
	step("workspace pod ready")

	out, stderr, code, err := execIn(ctx, cfg, cs, ns, "workspace", "id", "-u")
	if err != nil || code != 0 || strings.TrimSpace(out) != "1000" {
		t.Fatalf("exec id -u: out=%q stderr=%q code=%d err=%v", out, stderr, code, err)
	}
	step("exec: id -u = %s", strings.TrimSpace(out))

	// kubectl inside the pod: in-cluster config, the kubernetes service IP (kube-proxy).
	out, stderr, code, err = execIn(ctx, cfg, cs, ns, "workspace", "kubectl", "get", "pods", "-o", "name")
	if err != nil || code != 0 || !strings.Contains(out, "pod/workspace") {
		t.Fatalf("kubectl get pods inside the workspace: out=%q stderr=%q code=%d err=%v", out, stderr, code, err)
	}
	step("kubectl get pods inside the workspace: %s", strings.Join(strings.Fields(out), " "))

	_, stderr, code, err = execIn(ctx, cfg, cs, ns, "workspace", "kubectl", "get", "pods", "-n", "kube-system")
	if err != nil || code == 0 || !strings.Contains(stderr, "forbidden") {
		t.Fatalf("kubectl get pods -n kube-system inside the workspace: want forbidden, got stderr=%q code=%d err=%v", stderr, code, err)
	}
	step("other namespace forbidden for the service account")

	// The web Deployment becomes available and answers on its service IP from the workspace.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 1, nil
	})
	if err != nil {
		t.Fatalf("deployment web never available: %v", err)
	}
	step("deployment web available")
	url := fmt.Sprintf("http://%s/", svc.Spec.ClusterIP)
	var body string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		// busybox-static's wget segfaults (exit 139) even on IP addresses: use nc.
		body, _, code, err = execIn(ctx, cfg, cs, ns, "workspace", "sh", "-c",
			fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s 80`, svc.Spec.ClusterIP))
		return err == nil && code == 0 && strings.Contains(body, "nalabo-test httpd"), nil
	})
	if err != nil {
		t.Fatalf("GET %s from the workspace: body=%q code=%d: %v", url, body, code, err)
	}
	step("GET %s from the workspace answered", url)

	// Deleting the namespace completes (namespace controller, garbage collector, kubelet).
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	delStart := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 120*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("namespace %s not gone after 120s: %v", ns, err)
	}
	deleted = true
	step("namespace deleted in %.1fs", time.Since(delStart).Seconds())
}
