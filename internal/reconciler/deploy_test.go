package reconciler

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/k8shome"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// deployDir holds the shipped manifests.
const deployDir = "../../examples/deploy/reconciler/kubernetes"

// deployManifests returns the shipped namespace, service account, RBAC and admission
// policy with the control namespace renamed to ns and cluster-scoped names suffixed,
// so the test never collides with a real installation.
func deployManifests(t *testing.T, ns string) string {
	t.Helper()
	var out []string
	for _, f := range []string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml", "admission-policy.yaml"} {
		b, err := os.ReadFile(filepath.Join(deployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		s = strings.ReplaceAll(s, "namespace: nalabo\n", "namespace: "+ns+"\n")
		s = strings.ReplaceAll(s, "  name: nalabo\n", "  name: "+ns+"\n")
		s = strings.ReplaceAll(s, "system:serviceaccount:nalabo:", "system:serviceaccount:"+ns+":")
		s = strings.ReplaceAll(s, "kind: ClusterRole\nmetadata:\n  name: nalabo-reconciler\n", "kind: ClusterRole\nmetadata:\n  name: "+ns+"\n")
		s = strings.ReplaceAll(s, "kind: ClusterRoleBinding\nmetadata:\n  name: nalabo-reconciler\n", "kind: ClusterRoleBinding\nmetadata:\n  name: "+ns+"\n")
		s = strings.ReplaceAll(s, "  kind: ClusterRole\n  name: nalabo-reconciler\n", "  kind: ClusterRole\n  name: "+ns+"\n")
		s = strings.ReplaceAll(s, "nalabo-reconciler-deletes-sessions-only", ns+"-deletes-sessions-only")
		s = strings.ReplaceAll(s, "nalabo-reconciler-updates-sessions-only", ns+"-updates-sessions-only")
		s = strings.ReplaceAll(s, "nalabo-reconciler-scales-sessions-only", ns+"-scales-sessions-only")
		out = append(out, s)
	}
	all := strings.Join(out, "\n---\n")
	if strings.Contains(all, "namespace: nalabo\n") || strings.Contains(all, ":nalabo:") {
		t.Fatalf("manifests not fully renamed:\n%s", all)
	}
	return all
}

func kubectl(t *testing.T, stdin string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		bin = "/var/cache/nalabo/k8s/bin/kubectl"
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfigPath(t)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

// TestKubernetesDeployManifestsLeastPrivilege applies the shipped RBAC and admission
// policy and runs a reconciler with nothing but the service account's token: it takes
// the leader Lease, reaps an expired session, leaves the live one, cannot read secrets,
// and cannot delete a namespace that is not a session's.
func TestKubernetesDeployManifestsLeastPrivilege(t *testing.T) {
	kubeconfigPath(t)
	ctx := ctxFor(t, 5*time.Minute)
	ns := acctest.RandName("nalabo-rtest-deploy")
	manifests := deployManifests(t, ns)
	kubectl(t, manifests, "apply", "-f", "-")
	t.Cleanup(func() { kubectl(t, manifests, "delete", "--wait=false", "--ignore-not-found", "-f", "-") })

	admin := clientset(t)
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nalabo-reconciler", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath(t))
	if err != nil {
		t.Fatal(err)
	}
	ca := rc.CAData
	if len(ca) == 0 && rc.CAFile != "" {
		if ca, err = os.ReadFile(rc.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	restricted, err := kubernetes.New(kubernetes.Config{Host: rc.Host, Token: tok.Status.Token, ClusterCACertificate: string(ca), Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	saClient := k8s.NewForConfigOrDie(&rest.Config{Host: rc.Host, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}})

	// Sessions are created with the admin's rights (as Terraform would).
	b := newKube(t)
	name := acctest.RandName("rtest-deploy")
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: name, Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		// Stopping the persistent session scales the template's Deployment to zero: the
		// service account's rights must cover that too.
		Manifests: webDeployment,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	mk := func(id, participant string, createdAt time.Time, d time.Duration, p ...*workshop.Persistence) string {
		createdAt = createdAt.UTC().Truncate(time.Second)
		spec := &workshop.SessionSpec{ID: id, Template: tpl, Participant: participant,
			Resources: workshop.Resources{CPU: "500m", Memory: "256Mi", Storage: "1Gi"},
			CreatedAt: createdAt, Duration: d, ExpiresAt: createdAt.Add(d)}
		if len(p) > 0 {
			spec.Persistence = p[0]
		}
		t.Cleanup(func() { _ = b.DeleteSession(context.Background(), spec.ID) })
		if _, err := b.CreateSession(ctx, spec); err != nil {
			t.Fatalf("create session of %s: %v", participant, err)
		}
		return spec.ID
	}
	expired := mk(workshop.NewSessionID(), "ada", time.Now().Add(-2*time.Minute), time.Minute)
	alive := mk(workshop.NewSessionID(), "grace", time.Now(), time.Hour)
	// Persistent and expired: stopped (its namespace annotated, its pod deleted), not reaped.
	// Its volume is reserved for its claim: the concurrent tests' claims cannot take it.
	pid := workshop.NewSessionID()
	k8shome.Volume(t, admin, name, workshop.SessionObjectName(pid))
	persistent := mk(pid, "linus", time.Now().Add(-2*time.Minute), time.Minute, &workshop.Persistence{Size: "256Mi", RetainDays: 1})

	// Leader election with the Role's Lease.
	e := NewElection(restricted, kubernetes.DefaultLeaseName, "deploy-test", nil)
	ectx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ectx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(time.Minute)
	for {
		if _, ok := e.Leading(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the service account could not take the Lease")
		}
		time.Sleep(200 * time.Millisecond)
	}

	cfg := testConfig(name)
	cfg.Backends = []workshop.InfrastructureType{workshop.InfraKubernetes}
	cfg.ValidateInterval = 0
	r := New(cfg, []workshop.Backend{restricted}, nil, nil)
	r.SetLeading(e.Leading)
	res := r.RunOnce(ctx)[0]
	if err := res.Err(); err != nil {
		t.Fatalf("pass with the service account's rights: %v", err)
	}
	if strings.Join(res.Reaped, ",") != expired || strings.Join(res.Stopped, ",") != persistent || res.Listed != 3 {
		t.Fatalf("pass: %+v", res)
	}
	if s, err := b.GetSession(ctx, persistent); err != nil || !s.Stopped || s.Status != workshop.StatusExpired {
		t.Fatalf("the persistent session after the pass: %+v %v", s, err)
	}
	if err := webWorkload(admin, func() string { return workshop.SessionObjectName(persistent) }, 0)(nil); err != nil {
		t.Fatalf("the persistent session's workload after the pass: %v", err)
	}
	if err := webWorkload(admin, func() string { return workshop.SessionObjectName(alive) }, 1)(nil); err != nil {
		t.Fatalf("the live session's workload after the pass: %v", err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(expired), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the reaped session's namespace is still there: %v", err)
	}
	if _, err := b.GetSession(ctx, alive); err != nil {
		t.Fatalf("the live session: %v", err)
	}

	// What the service account must not do.
	if _, err := saClient.CoreV1().Secrets(workshop.SessionObjectName(alive)).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing a session's secrets: want forbidden, got %v", err)
	}
	other := acctest.RandName("nalabo-rtest-other")
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.CoreV1().Namespaces().Delete(context.Background(), other, metav1.DeleteOptions{}) })
	// The policies take a moment to be active after they are created.
	deadline = time.Now().Add(time.Minute)
	for {
		o, err := admin.CoreV1().Namespaces().Get(ctx, other, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o.Annotations = map[string]string{"nalabo.io/stopped-workspace": "{}"}
		_, err = saClient.CoreV1().Namespaces().Update(ctx, o, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "may only annotate session namespaces") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("annotating a namespace that is not a session's: want the admission policy's denial, got %v", err)
		}
		time.Sleep(time.Second)
	}
	// A Deployment outside the sessions (no pods: zero replicas) cannot be scaled.
	zero := int32(0)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "not-a-session", Namespace: other},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "nalabo-test/httpd:1"}}},
			},
		},
	}
	if _, err := admin.AppsV1().Deployments(other).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := saClient.AppsV1().Deployments(other).Patch(ctx, dep.Name, types.MergePatchType, []byte(`{"spec":{"replicas":1}}`),
			metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}}, "scale")
		if err != nil && strings.Contains(err.Error(), "may only scale workloads in session namespaces") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scaling a workload that is not a session's: want the admission policy's denial, got %v", err)
		}
		time.Sleep(time.Second)
	}
	for {
		err := saClient.CoreV1().Namespaces().Delete(ctx, other, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "may only delete session namespaces and what they hold") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deleting a namespace that is not a session's: want the admission policy's denial, got %v", err)
		}
		time.Sleep(time.Second)
	}
}
