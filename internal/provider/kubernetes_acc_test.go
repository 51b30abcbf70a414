package provider

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8sresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// Kubernetes acceptance tests run the real Terraform CLI against the local test
// cluster (make testcluster). They run when NALABO_K8S_KUBECONFIG names its admin
// kubeconfig (.ci/run sets it):
//
//	NALABO_K8S_KUBECONFIG=/var/cache/nalabo/k8s/kubeconfig TF_ACC=1 go test ./internal/provider/ -run TestAccKubernetes

// nginxDemoManifests is the design's nginx-demo template shape (a Deployment and its
// Service), with the locally built web server image (busybox httpd on :8080).
const nginxDemoManifests = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-demo
  labels: {app: nginx-demo}
spec:
  replicas: 1
  selector:
    matchLabels: {app: nginx-demo}
  template:
    metadata:
      labels: {app: nginx-demo}
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
---
apiVersion: v1
kind: Service
metadata:
  name: nginx-demo
spec:
  selector: {app: nginx-demo}
  ports:
  - port: 80
    targetPort: 8080
`

// k8sKubeconfig returns the test cluster's admin kubeconfig, or skips the test.
func k8sKubeconfig(t *testing.T) string {
	t.Helper()
	acctest.PreCheck(t)
	p := os.Getenv("NALABO_K8S_KUBECONFIG")
	if p == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set (start the test cluster: make testcluster)")
	}
	return p
}

// k8sClient builds a clientset from a kubeconfig's bytes.
func k8sClient(kubeconfig []byte) (k8s.Interface, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.Timeout = 30 * time.Second
	return k8s.NewForConfig(rc)
}

func k8sAdmin(t *testing.T) k8s.Interface {
	t.Helper()
	raw, err := os.ReadFile(k8sKubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := k8sClient(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// k8sProviderConfig configures only the kubernetes side of the provider.
func k8sProviderConfig(kubeconfig string) string {
	return fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    config_path = %q
    namespace   = "nalabo-acc"
  }
}
`, kubeconfig)
}

// k8sTemplateConfig is a namespace-isolated kubernetes template.
func k8sTemplateConfig(resName, name, manifests, extra string) string {
	m := ""
	if manifests != "" {
		m = fmt.Sprintf("  manifests = <<-EOT\n%s  EOT\n", indent(manifests, "    "))
	}
	return fmt.Sprintf(`
resource "nalabo_workshop_template" %[1]q {
  name                = %[2]q
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "1", memory = "512Mi", storage = "1Gi" }
%[3]s%[4]s
}
`, resName, name, m, extra)
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// stateAttr reads one attribute of a resource in the state.
func stateAttr(s *terraform.State, addr, attr string) (string, error) {
	rs, ok := s.RootModule().Resources[addr]
	if !ok {
		return "", fmt.Errorf("%s not in state", addr)
	}
	v, ok := rs.Primary.Attributes[attr]
	if !ok {
		return "", fmt.Errorf("%s has no attribute %s", addr, attr)
	}
	return v, nil
}

// participantClient is a client with a session's kubeconfig, as a participant has it.
func participantClient(s *terraform.State, addr string) (k8s.Interface, string, error) {
	kc, err := stateAttr(s, addr, "kubeconfig")
	if err != nil {
		return nil, "", err
	}
	ns, err := stateAttr(s, addr, "namespace")
	if err != nil {
		return nil, "", err
	}
	cs, err := k8sClient([]byte(kc))
	return cs, ns, err
}

// checkParticipantIsolation: a session's kubeconfig lists pods in its own namespace and
// sees the template's Deployment, is forbidden in the other session's namespace and at
// cluster scope, cannot run a privileged pod (Pod Security) nor one over its quota.
// With fits, a small restricted pod must be admitted (the session has room for it).
func checkParticipantIsolation(own, other string, fits bool) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cs, ns, err := participantClient(s, own)
		if err != nil {
			return err
		}
		otherNS, err := stateAttr(s, other, "namespace")
		if err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("participant of %s cannot list pods in its own namespace %s: %w", own, ns, err)
		}
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		if !strings.Contains(strings.Join(names, " "), "nginx-demo-") || !strings.Contains(strings.Join(names, " "), "workspace") {
			return fmt.Errorf("pods in %s: %v; want the workspace and an nginx-demo pod", ns, names)
		}
		if _, err := cs.CoreV1().Pods(otherNS).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			return fmt.Errorf("listing pods of the other session's namespace %s: got %v, want Forbidden", otherNS, err)
		}
		if _, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			return fmt.Errorf("listing namespaces (cluster scope): got %v, want Forbidden", err)
		}
		if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			return fmt.Errorf("listing nodes (cluster scope): got %v, want Forbidden", err)
		}
		pod := func(name string, privileged bool, cpu string) *corev1.Pod {
			sc := &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000)),
				Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			}
			if privileged {
				sc = &corev1.SecurityContext{Privileged: ptr.To(true)}
			}
			c := corev1.Container{Name: "c", Image: "nalabo-test/k8s-workspace:1", ImagePullPolicy: corev1.PullIfNotPresent, SecurityContext: sc}
			if cpu != "" {
				c.Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity(cpu)},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: mustQuantity(cpu)},
				}
			}
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
		}
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		_, err = cs.CoreV1().Pods(ns).Create(ctx, pod("privileged", true, ""), dry)
		if err == nil || !strings.Contains(err.Error(), "PodSecurity") {
			return fmt.Errorf("a privileged pod: got %v, want a Pod Security refusal", err)
		}
		_, err = cs.CoreV1().Pods(ns).Create(ctx, pod("greedy", false, "8"), dry)
		if err == nil || !strings.Contains(err.Error(), "exceeded quota") {
			return fmt.Errorf("an 8-CPU pod: got %v, want a quota refusal", err)
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("fits", false, "100m"), dry); fits && err != nil {
			return fmt.Errorf("a small restricted pod must be allowed: %w", err)
		}
		return nil
	}
}

// checkQuota asserts the session namespace's ResourceQuota hard limits.
func checkQuota(t *testing.T, addr, cpu, memory string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ns, err := stateAttr(s, addr, "namespace")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		qs, err := k8sAdmin(t).CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(qs.Items) != 1 {
			return fmt.Errorf("%d resource quotas in %s, want 1", len(qs.Items), ns)
		}
		hard := qs.Items[0].Spec.Hard
		if c := hard[corev1.ResourceLimitsCPU]; c.Cmp(mustQuantity(cpu)) != 0 {
			return fmt.Errorf("quota limits.cpu = %s, want %s", c.String(), cpu)
		}
		if m := hard[corev1.ResourceLimitsMemory]; m.Cmp(mustQuantity(memory)) != 0 {
			return fmt.Errorf("quota limits.memory = %s, want %s", m.String(), memory)
		}
		return nil
	}
}

// k8sCheckDestroy: no namespace of these participants and no cluster-scoped object
// with the provider's labels remains.
func k8sCheckDestroy(t *testing.T, participants ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cs := k8sAdmin(t)
		sel := "nalabo.io/managed-by=terraform-provider-nalabo"
		nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		for _, ns := range nss.Items {
			for _, p := range participants {
				if ns.Labels["nalabo.io/participant"] == p {
					return fmt.Errorf("namespace %s of participant %s is still there (phase %s)", ns.Name, p, ns.Status.Phase)
				}
			}
		}
		crs, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		crbs, err := cs.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		if n := len(crs.Items) + len(crbs.Items) + len(pvs.Items); n > 0 {
			return fmt.Errorf("%d cluster-scoped objects with the provider's labels remain", n)
		}
		return nil
	}
}

func TestAccKubernetes_namespaceSessions(t *testing.T) {
	kc := k8sKubeconfig(t)
	testAccSetup(t)
	name := acctest.RandName("k8s-ns")
	a, b := name+"-ada", name+"-bob"
	cfg := func(sessionExtra string) string {
		return k8sProviderConfig(kc) + k8sTemplateConfig("t", name, nginxDemoManifests, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %[1]q
%[3]s
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %[2]q
}

resource "nalabo_exec" "pods" {
  session_id = nalabo_workshop_session.a.id
  command    = ["kubectl", "get", "pods", "-o", "name"]
  timeout    = "60s"
}
`, a, b, sessionExtra)
	}
	var nsA, kubeconfigA string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, a, b),
		Steps: []resource.TestStep{
			{
				Config: cfg(""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr("nalabo_workshop_template.t", "id", regexp.MustCompile(`^kubernetes\.`+regexp.QuoteMeta(name)+`\.[0-9a-f]{12}\.[0-9a-f]{8}$`)),
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "pre_pull", "true"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "infrastructure_type", "kubernetes"),
					resource.TestMatchResourceAttr("nalabo_workshop_session.a", "namespace", regexp.MustCompile(`^nalabo-session-[0-9a-f]{10}$`)),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "effective_resources.cpu", "1"),
					resource.TestMatchResourceAttr("nalabo_exec.pods", "stdout", regexp.MustCompile(`(?m)^pod/nginx-demo-[a-z0-9]+-[a-z0-9]+$`)),
					resource.TestMatchResourceAttr("nalabo_exec.pods", "stdout", regexp.MustCompile(`(?m)^pod/workspace$`)),
					resource.TestCheckResourceAttr("nalabo_exec.pods", "exit_code", "0"),
					checkParticipantIsolation("nalabo_workshop_session.a", "nalabo_workshop_session.b", true),
					checkParticipantIsolation("nalabo_workshop_session.b", "nalabo_workshop_session.a", true),
					checkQuota(t, "nalabo_workshop_session.a", "1", "512Mi"),
					captureAttr("nalabo_workshop_session.a", "namespace", &nsA),
					captureAttr("nalabo_workshop_session.a", "kubeconfig", &kubeconfigA),
				),
			},
			// Resize and extend in place: same namespace, new quota, new token.
			{
				Config: cfg(`  resources = { cpu = "500m", memory = "256Mi" }
  duration  = "2h"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_workshop_session.a", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals("nalabo_workshop_session.a", "namespace", &nsA),
					checkQuota(t, "nalabo_workshop_session.a", "500m", "256Mi"),
					checkLifetime("nalabo_workshop_session.a", 2*time.Hour),
					checkAttrChanged("nalabo_workshop_session.a", "kubeconfig", &kubeconfigA),
					checkParticipantIsolation("nalabo_workshop_session.a", "nalabo_workshop_session.b", false),
				),
			},
			// Import by id.
			{
				ResourceName:            "nalabo_workshop_session.a",
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts", "kubeconfig", "resources."},
			},
			// Drift: the quota is changed outside Terraform; an in-place update is planned.
			{
				PreConfig: func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					qs := k8sAdmin(t).CoreV1().ResourceQuotas(nsA)
					list, err := qs.List(ctx, metav1.ListOptions{})
					if err != nil || len(list.Items) != 1 {
						t.Fatalf("quotas of %s: %v (%d)", nsA, err, len(list.Items))
					}
					q := list.Items[0]
					q.Spec.Hard[corev1.ResourceLimitsCPU] = mustQuantity("3")
					q.Spec.Hard[corev1.ResourceRequestsCPU] = mustQuantity("3")
					if _, err := qs.Update(ctx, &q, metav1.UpdateOptions{}); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg(`  resources = { cpu = "500m", memory = "256Mi" }
  duration  = "2h"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_workshop_session.a", plancheck.ResourceActionUpdate),
				}},
				Check: checkQuota(t, "nalabo_workshop_session.a", "500m", "256Mi"),
			},
			// Drift: the namespace is deleted outside Terraform; a re-creation is planned.
			{
				PreConfig: func() {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					cs := k8sAdmin(t)
					if err := cs.CoreV1().Namespaces().Delete(ctx, nsA, metav1.DeleteOptions{}); err != nil {
						t.Fatal(err)
					}
					for {
						_, err := cs.CoreV1().Namespaces().Get(ctx, nsA, metav1.GetOptions{})
						if apierrors.IsNotFound(err) {
							return
						}
						if ctx.Err() != nil {
							t.Fatalf("namespace %s not gone: %v", nsA, err)
						}
						time.Sleep(500 * time.Millisecond)
					}
				},
				Config: cfg(`  resources = { cpu = "500m", memory = "256Mi" }
  duration  = "2h"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_workshop_session.a", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrChanged("nalabo_workshop_session.a", "namespace", &nsA),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
					checkParticipantIsolation("nalabo_workshop_session.a", "nalabo_workshop_session.b", false),
				),
			},
		},
	})
}

// Plan-time checks of kubernetes templates and the kubernetes block: no cluster needed.
func TestAccKubernetes_badInputs(t *testing.T) {
	testAccSetup(t)
	kc := os.Getenv("NALABO_K8S_KUBECONFIG")
	if kc == "" {
		kc = "/dev/null"
	}
	clusterRole := nginxDemoManifests + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: boom\n"
	noKind := "apiVersion: v1\nmetadata:\n  name: x\n"
	otherNS := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kube-system\n"
	cases := []struct{ name, config, want string }{
		{"cluster-scoped in namespace mode", k8sProviderConfig(kc) + k8sTemplateConfig("t", "bad", clusterRole, ""),
			`manifests: document 3 \(ClusterRole boom\): ClusterRole is cluster-scoped`},
		{"document without kind", k8sProviderConfig(kc) + k8sTemplateConfig("t", "bad", noKind, ""),
			`manifests: document 1 \(line 1\): has no kind`},
		{"document in another namespace", k8sProviderConfig(kc) + k8sTemplateConfig("t", "bad", otherNS, ""),
			`document 1 \(ConfigMap x\): metadata.namespace must not be set`},
		{"missing kubeconfig file", k8sProviderConfig("/nonexistent/kubeconfig") + k8sTemplateConfig("t", "bad", "", ""),
			`kubernetes.config_path: stat /nonexistent/kubeconfig`},
		{"insecure with a CA", `
provider "nalabo" {
  kubernetes {
    host                   = "https://127.0.0.1:6443"
    insecure               = true
    cluster_ca_certificate = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
  }
}
` + k8sTemplateConfig("t", "bad", "", ""), `Set either kubernetes.insecure = true or kubernetes.cluster_ca_certificate`},
		{"host that is not a URL", `
provider "nalabo" {
  kubernetes {
    host = "127.0.0.1:6443"
  }
}
` + k8sTemplateConfig("t", "bad", "", ""), `must be an http:// or https:// address`},
		{"exec plugin api version", `
provider "nalabo" {
  kubernetes {
    host = "https://127.0.0.1:6443"
    exec {
      api_version = "v1"
      command     = "get-token"
    }
  }
}
` + k8sTemplateConfig("t", "bad", "", ""), `api_version value must be one of`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      c.config,
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(strings.ReplaceAll(c.want, " ", `\s+`)),
				}},
			})
		})
	}
}

// Without a kubernetes block (and without KUBECONFIG/K8S_ENDPOINT), a kubernetes
// template fails with a diagnostic that says how to configure one; an unreachable
// cluster is named.
func TestAccKubernetes_notConfigured(t *testing.T) {
	testAccSetup(t)
	acctest.PreCheck(t)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("K8S_ENDPOINT", "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      `provider "nalabo" {}` + k8sTemplateConfig("t", acctest.RandName("k8s-none"), "", ""),
				ExpectError: regexp.MustCompile(`(?s)Kubernetes\s+backend\s+not\s+configured.*block\s+kubernetes\s+\{\s+config_path`),
			},
			{
				Config: `
provider "nalabo" {
  kubernetes {
    host     = "https://127.0.0.1:1"
    insecure = true
    token    = "not-a-real-token"
  }
}
` + k8sTemplateConfig("t", acctest.RandName("k8s-none"), "", ""),
				ExpectError: regexp.MustCompile(`(?s)Cannot\s+reach\s+the\s+Kubernetes\s+cluster.*https://127.0.0.1:1`),
			},
		},
	})
}

func mustQuantity(s string) k8sresource.Quantity { return k8sresource.MustParse(s) }

// nalabo_apply with type yaml into a namespace session: objects applied and ready,
// an update prunes what the configuration dropped, destroy removes the rest and leaves
// the session's own objects alone.
func TestAccKubernetes_applyYAML(t *testing.T) {
	kc := k8sKubeconfig(t)
	testAccSetup(t)
	name := acctest.RandName("k8s-apply")
	participant := name + "-ada"
	configMap := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  greeting: hello\n"
	deployment := strings.ReplaceAll(strings.Split(nginxDemoManifests, "---")[0], "nginx-demo", "extra-web")
	cfg := func(yaml string) string {
		return k8sProviderConfig(kc) + k8sTemplateConfig("t", name, "", "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}

resource "nalabo_apply" "extra" {
  session_id    = nalabo_workshop_session.s.id
  type          = "yaml"
  configuration = <<-EOT
%s  EOT
}
`, participant, indent(yaml, "    "))
	}
	objects := func(want ...string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			ns, err := stateAttr(s, "nalabo_workshop_session.s", "namespace")
			if err != nil {
				return err
			}
			id, err := stateAttr(s, "nalabo_apply.extra", "id")
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cs := k8sAdmin(t)
			sel := metav1.ListOptions{LabelSelector: "nalabo.io/apply=" + id}
			cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, sel)
			if err != nil {
				return err
			}
			deps, err := cs.AppsV1().Deployments(ns).List(ctx, sel)
			if err != nil {
				return err
			}
			var got []string
			for _, o := range cms.Items {
				got = append(got, "ConfigMap/"+o.Name)
			}
			for _, o := range deps.Items {
				got = append(got, "Deployment/"+o.Name)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				return fmt.Errorf("objects labelled with apply %s in %s: %v, want %v", id, ns, got, want)
			}
			// The session's own workspace pod is never the apply's.
			if _, err := cs.CoreV1().Pods(ns).Get(ctx, "workspace", metav1.GetOptions{}); err != nil {
				return fmt.Errorf("workspace pod: %w", err)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, participant),
		Steps: []resource.TestStep{
			{
				Config: cfg(configMap + "---\n" + deployment),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_apply.extra", "objects.#", "2"),
					resource.TestCheckTypeSetElemNestedAttrs("nalabo_apply.extra", "objects.*", map[string]string{"kind": "ConfigMap", "name": "settings", "status": "ready"}),
					resource.TestCheckTypeSetElemNestedAttrs("nalabo_apply.extra", "objects.*", map[string]string{"kind": "Deployment.apps", "name": "extra-web", "status": "ready"}),
					objects("ConfigMap/settings", "Deployment/extra-web"),
				),
			},
			{
				Config: cfg(deployment),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_apply.extra", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_apply.extra", "objects.#", "1"),
					objects("Deployment/extra-web"),
				),
			},
			{
				Config:      cfg("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: boom\n"),
				ExpectError: regexp.MustCompile(`document\s+1\s+\(ClusterRole\s+boom\)`),
			},
		},
	})
}
