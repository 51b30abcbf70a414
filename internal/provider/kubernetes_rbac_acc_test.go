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
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/k8shome"
)

// providerRBACFile is the ClusterRole the provider page and examples/deploy/provider
// give for Terraform's own identity.
const providerRBACFile = "../../examples/deploy/provider/rbac.yaml"

// providerClusterRole reads the ClusterRole name of providerRBACFile.
func providerClusterRole(t *testing.T, name string) *rbacv1.ClusterRole {
	t.Helper()
	raw, err := os.ReadFile(providerRBACFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var cr rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(doc), &cr); err != nil {
			var meta metav1.TypeMeta
			if yaml.Unmarshal([]byte(doc), &meta) == nil && meta.Kind != "ClusterRole" {
				continue
			}
			t.Fatalf("%s: %v", providerRBACFile, err)
		}
		if cr.Kind == "ClusterRole" && cr.Name == name {
			return &cr
		}
	}
	t.Fatalf("%s holds no ClusterRole %s", providerRBACFile, name)
	return nil
}

// rbacBoundToken creates a service account bound to a copy of role (named after the
// account) and returns the API server, its CA (PEM) and a token of that account.
func rbacBoundToken(t *testing.T, role *rbacv1.ClusterRole) (server string, ca []byte, token string) {
	t.Helper()
	kc := k8sKubeconfig(t)
	raw, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	cluster := raw.Clusters[raw.Contexts[raw.CurrentContext].Cluster]
	cs := k8sAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := acctest.RandName("nalabo-acc-rbac")
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: role.Rules}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: "default"}},
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		_ = cs.CoreV1().ServiceAccounts("default").Delete(ctx, name, metav1.DeleteOptions{})
	})
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cluster.Server, cluster.CertificateAuthorityData, tr.Status.Token
}

// TestAccKubernetes_providerRBAC: the provider, holding only the ClusterRole of
// examples/deploy/provider/rbac.yaml, applies a namespace-isolated class (template with
// the nginx-demo manifests, a session, a command in it, the infrastructure data
// source), stops the persistent session (its nginx-demo Deployment scaled to zero) and
// resumes it, and destroys it. Positive control: the same role without
// serviceaccounts/token fails the session's create with Forbidden.
func TestAccKubernetes_providerRBAC(t *testing.T) {
	testAccSetup(t)
	role := providerClusterRole(t, "nalabo-provider")
	crippled := role.DeepCopy()
	crippled.Rules = nil
	for _, r := range role.Rules {
		if len(r.Resources) == 1 && r.Resources[0] == "serviceaccounts/token" {
			continue
		}
		crippled.Rules = append(crippled.Rules, r)
	}
	if len(crippled.Rules) != len(role.Rules)-1 {
		t.Fatalf("%s has no rule for serviceaccounts/token alone", providerRBACFile)
	}
	server, ca, token := rbacBoundToken(t, role)
	_, _, weakToken := rbacBoundToken(t, crippled)

	name := acctest.RandName("k8s-rbac")
	participant := name + "-ada"
	admin := k8sAdmin(t)
	k8shome.Volume(t, admin, name)
	var ns string
	demoReplicas := func(want int32) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			ns = s.RootModule().Resources["nalabo_workshop_session.s"].Primary.Attributes["namespace"]
			d, err := admin.AppsV1().Deployments(ns).Get(context.Background(), "nginx-demo", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if *d.Spec.Replicas != want || d.Status.ReadyReplicas != want {
				return fmt.Errorf("nginx-demo: %d replicas, %d ready (want %d)", *d.Spec.Replicas, d.Status.ReadyReplicas, want)
			}
			return nil
		}
	}
	cfg := func(token string, state ...string) string {
		st := "running"
		if len(state) > 0 {
			st = state[0]
		}
		return fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    host                   = %[1]q
    token                  = %[2]q
    cluster_ca_certificate = %[3]q
    namespace              = "nalabo-acc"
  }
}
`, server, token, string(ca)) + k8sTemplateConfig("t", name, nginxDemoManifests, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %[1]q
  persistence = { size = "256Mi" }
  state       = %[2]q
}

resource "nalabo_exec" "pods" {
  session_id = nalabo_workshop_session.s.id
  command    = ["kubectl", "get", "pods", "-o", "name"]
  timeout    = "60s"
}

data "nalabo_infrastructure" "all" {}
`, participant, st)
	}
	resource.Test(t, resource.TestCase{ // not parallel: its home volume is made (under k8shome's lock) before the test would pause
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, participant),
		Steps: []resource.TestStep{
			{
				Config:      cfg(weakToken),
				ExpectError: regexp.MustCompile(`(?s)forbidden.*serviceaccounts/token|serviceaccounts.*token.*forbidden`),
			},
			{
				Config: cfg(token),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", "running"),
					resource.TestMatchResourceAttr("nalabo_exec.pods", "stdout", regexp.MustCompile(`(?m)^pod/nginx-demo-`)),
					resource.TestCheckResourceAttr("data.nalabo_infrastructure.all", "backends.kubernetes.reachable", "true"),
					demoReplicas(1),
				),
			},
			{
				Config: cfg(token, "stopped"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", "stopped"),
					demoReplicas(0),
				),
			},
			{
				Config: cfg(token, "running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", "running"),
					demoReplicas(1),
				),
			},
		},
	})
}

// TestAccVCluster_providerRBAC: with the ClusterRoles nalabo-provider and
// nalabo-provider-vcluster of examples/deploy/provider/rbac.yaml only, the provider
// installs a vCluster session, runs a command in it and destroys it. Positive control:
// nalabo-provider alone fails on the chart's ClusterRole.
func TestAccVCluster_providerRBAC(t *testing.T) {
	testAccSetup(t)
	base := vclusterProviderConfig(t, "") // skips without the vCluster harness
	nsRole := providerClusterRole(t, "nalabo-provider")
	both := nsRole.DeepCopy()
	both.Rules = append(both.Rules, providerClusterRole(t, "nalabo-provider-vcluster").Rules...)
	server, ca, token := rbacBoundToken(t, both)
	_, _, nsToken := rbacBoundToken(t, nsRole)
	// The harness's provider block with the token instead of the admin kubeconfig.
	cfgPath := regexp.MustCompile(`(?m)^\s*config_path\s*=.*$`)
	if !cfgPath.MatchString(base) {
		t.Fatal("vclusterProviderConfig has no config_path line")
	}
	provider := func(token string) string {
		return cfgPath.ReplaceAllLiteralString(base, fmt.Sprintf("    host = %q\n    token = %q\n    cluster_ca_certificate = %q", server, token, string(ca)))
	}
	name := acctest.RandName("vc-rbac")
	participant := name + "-ada"
	var namespaces []string
	config := func(token string) string {
		return provider(token) + fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %[1]q
  infrastructure_type = "kubernetes"
  isolation           = "vcluster"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "1", memory = "512Mi", storage = "2Gi" }
}

resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %[2]q
  timeouts = {
    create = "8m"
  }
}

resource "nalabo_exec" "ns" {
  session_id = nalabo_workshop_session.s.id
  command    = ["kubectl", "get", "namespaces", "-o", "name"]
  timeout    = "60s"
}
`, name, participant)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             vclusterCheckDestroy(t, &namespaces, participant),
		Steps: []resource.TestStep{
			{
				// Positive control: the namespace role alone cannot install the chart.
				Config:      config(nsToken),
				ExpectError: regexp.MustCompile(`(?s)forbidden.*clusterroles`),
			},
			{
				Config: config(token),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", "running"),
					resource.TestMatchResourceAttr("nalabo_exec.ns", "stdout", regexp.MustCompile(`(?m)^namespace/kube-system$`)),
					func(s *terraform.State) error {
						ns, err := stateAttr(s, "nalabo_workshop_session.s", "namespace")
						namespaces = append(namespaces, ns)
						return err
					},
				),
			},
		},
	})
}
