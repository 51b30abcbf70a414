package reconciler

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	tfresource "github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/k8shome"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// webDeployment is a template's own workload (a Deployment of one web server): stopping
// the session scales it to zero, resuming it scales it back.
const webDeployment = `apiVersion: apps/v1
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
      securityContext:
        runAsNonRoot: true
        runAsUser: 101
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: web
        image: nalabo-test/httpd:1
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 8080}]
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
`

// webWorkload checks the Deployment "web" of namespace ns: with replicas 1, its pod is
// ready; with 0, it is scaled to zero and no pod of it is left.
func webWorkload(cs k8s.Interface, ns func() string, replicas int32) tfresource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d, err := cs.AppsV1().Deployments(ns()).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("deployment web: %w", err)
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas || d.Status.ReadyReplicas != replicas {
			return fmt.Errorf("deployment web: replicas %v, ready %d (want %d)", d.Spec.Replicas, d.Status.ReadyReplicas, replicas)
		}
		pods, err := cs.CoreV1().Pods(ns()).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running++
			}
		}
		if len(pods.Items) != int(replicas) || running != int(replicas) {
			return fmt.Errorf("deployment web: %d pods, %d running (want %d)", len(pods.Items), running, replicas)
		}
		return nil
	}
}

// persistentKubernetesConfig is a namespace template (with webDeployment) and one
// persistent session.
func persistentKubernetesConfig(kubeconfig, name, participant, duration, state string) string {
	return persistentKubernetesTemplate(kubeconfig, name, webDeployment) + persistentSessionHCL(participant, duration, state)
}

// persistentKubernetesTemplate is the provider and a namespace template "t", with the
// manifests given (YAML documents).
func persistentKubernetesTemplate(kubeconfig, name string, manifests ...string) string {
	m := ""
	if len(manifests) > 0 {
		m = "  manifests = <<-EOT\n" + indentLines(strings.Join(manifests, "---\n"), "    ") + "  EOT\n"
	}
	return fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    config_path = %q
    namespace   = "nalabo-acc"
  }
}

resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "500m", memory = "256Mi", storage = "1Gi" }
%s}
`, kubeconfig, name, m)
}

// indentLines prefixes every non-empty line of s.
func indentLines(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// countSessionNamespaces counts the session namespaces of template name.
func countSessionNamespaces(t *testing.T, cs k8s.Interface, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: workshop.LabelTemplate + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// homeVolumeForTest makes a PersistentVolume for a home's claim (k8shome.Volume).
func homeVolumeForTest(t *testing.T, cs k8s.Interface, name string, claimNamespace ...string) string {
	t.Helper()
	return k8shome.Volume(t, cs, name, claimNamespace...)
}

// TestAccPersistenceKubernetes is TestAccPersistenceDocker on a namespace session: the
// home is a PersistentVolumeClaim (bound to a hostPath volume made here: the test
// cluster has no storage class); stopping deletes the workspace pod and keeps the
// claim, resuming re-creates the pod on the same claim and the file is back; at expiry
// the reconciler stops it and deletes an expired session without persistence; after
// retain_days it deletes the namespace, the claim and the volume.
func TestAccPersistenceKubernetes(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	acctest.RequireTerraform(t)
	kubeconfig := kubeconfigPath(t)
	cs := clientset(t)
	name := acctest.RandName("persist-kacc")
	participant := acctest.RandName("ada")
	control := acctest.RandName("bob")
	const addr = "nalabo_workshop_session.s"
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: kubeconfig, Namespace: "nalabo-acc"})
	if err != nil {
		t.Fatal(err)
	}

	pvName := homeVolumeForTest(t, cs, name)

	var id, templateID, createdAt, expiresAt string
	record := func(s *terraform.State) error {
		a := s.RootModule().Resources[addr].Primary.Attributes
		id, templateID, createdAt, expiresAt = a["id"], a["template_id"], a["created_at"], a["expires_at"]
		return nil
	}
	ns := func() string { return workshop.SessionObjectName(id) }
	// home checks the workspace pod (present or not) and the claim (bound to our volume).
	home := func(podWanted bool) tfresource.TestCheckFunc {
		return func(*terraform.State) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := cs.CoreV1().Pods(ns()).Get(ctx, "workspace", metav1.GetOptions{})
			if podWanted && err != nil {
				return fmt.Errorf("workspace pod: %w", err)
			}
			if !podWanted && !apierrors.IsNotFound(err) {
				return fmt.Errorf("workspace pod of a stopped session: %v (want not found)", err)
			}
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns()).Get(ctx, "home", metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("home claim: %w", err)
			}
			if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName != pvName {
				return fmt.Errorf("home claim: phase %s, volume %q (want bound to %s)", pvc.Status.Phase, pvc.Spec.VolumeName, pvName)
			}
			return nil
		}
	}
	pass := func(now time.Time) PassResult { t.Helper(); return passAt(t, name, b, now) }
	cfg := func(duration, state string) string {
		return persistentKubernetesConfig(kubeconfig, name, participant, duration, state)
	}
	tfresource.Test(t, tfresource.TestCase{
		ProtoV6ProviderFactories: providerFactories(),
		CheckDestroy: func(*terraform.State) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := cs.CoreV1().Namespaces().Get(ctx, ns(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("namespace %s: %v (want gone)", ns(), err)
			}
			return nil
		},
		Steps: []tfresource.TestStep{
			{
				Config: cfg("2h", "running"),
				Check: tfresource.ComposeAggregateTestCheckFunc(
					record,
					tfresource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
					home(true),
					webWorkload(cs, ns, 1), // the positive control: the template's workload runs
					checkExec(b, &id, "echo kept-across-stops > /home/nalabo/notes.txt && cat /home/nalabo/notes.txt", "kept-across-stops"),
				),
			},
			{
				Config:           cfg("2h", "stopped"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionUpdate),
				Check: tfresource.ComposeAggregateTestCheckFunc(
					tfresource.TestCheckResourceAttrPtr(addr, "id", &id),
					tfresource.TestCheckResourceAttr(addr, "status", workshop.StatusStopped),
					home(false),
					webWorkload(cs, ns, 0),
					func(*terraform.State) error {
						_, err := sessionExec(b, id, "true")
						if err == nil || !strings.Contains(err.Error(), "is stopped") {
							return fmt.Errorf("exec in a stopped session: %v, want an error saying it is stopped", err)
						}
						return nil
					},
				),
			},
			{Config: cfg("2h", "stopped"), PlanOnly: true},
			{
				Config:           cfg("2h", "running"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionUpdate),
				Check: tfresource.ComposeAggregateTestCheckFunc(
					tfresource.TestCheckResourceAttrPtr(addr, "id", &id),
					tfresource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
					home(true),
					webWorkload(cs, ns, 1),
					checkExec(b, &id, "cat /home/nalabo/notes.txt", "kept-across-stops"),
				),
			},
			{
				PreConfig: func() { waitPast(t, createdAt, time.Minute) },
				Config:    cfg("1m", "running"),
				Check: tfresource.ComposeAggregateTestCheckFunc(
					record,
					tfresource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
				),
			},
			{
				// At expiry: stopped (claim kept), the control session deleted.
				PreConfig: func() {
					tpl, err := b.GetTemplate(context.Background(), templateID)
					if err != nil {
						t.Fatal(err)
					}
					created := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
					spec := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: control,
						CreatedAt: created, Duration: time.Hour, ExpiresAt: created.Add(time.Hour)}
					t.Cleanup(func() { _ = b.DeleteSession(context.Background(), spec.ID) })
					if _, err := b.CreateSession(ctxFor(t, 3*time.Minute), spec); err != nil {
						t.Fatalf("create the control session: %v", err)
					}
					res := pass(time.Now())
					if strings.Join(res.Stopped, ",") != id || strings.Join(res.Reaped, ",") != spec.ID {
						t.Fatalf("pass at expiry: stopped %v (want [%s]), reaped %v (want [%s])", res.Stopped, id, res.Reaped, spec.ID)
					}
					if res := pass(time.Now()); len(res.Stopped)+len(res.Reaped) != 0 {
						t.Fatalf("second pass: stopped %v, reaped %v", res.Stopped, res.Reaped)
					}
				},
				Config:           cfg("1m", "running"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionNoop),
				Check: tfresource.ComposeAggregateTestCheckFunc(
					tfresource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
					home(false),
					webWorkload(cs, ns, 0), // the reconciler's stop scaled it down too
				),
			},
			{
				// Retention over: namespace, claim and volume deleted.
				PreConfig: func() {
					exp, err := time.Parse(time.RFC3339, expiresAt)
					if err != nil {
						t.Fatalf("expires_at %q: %v", expiresAt, err)
					}
					if res := pass(exp.Add(23 * time.Hour)); len(res.Reaped) != 0 {
						t.Fatalf("pass within the retention reaped %v", res.Reaped)
					}
					if res := pass(exp.Add(24*time.Hour + time.Minute)); strings.Join(res.Reaped, ",") != id {
						t.Fatalf("pass after the retention: reaped %v, want [%s]", res.Reaped, id)
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if _, err := cs.CoreV1().Namespaces().Get(ctx, ns(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
						t.Fatalf("namespace %s after the retention: %v", ns(), err)
					}
					if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
						t.Fatalf("volume %s after the retention: %v", pvName, err)
					}
				},
				Config:           cfg("1m", "running"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionNoop),
				Check:            tfresource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
			},
		},
	})
}
