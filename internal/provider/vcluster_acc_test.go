package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/vclusterenv"
)

// vCluster acceptance tests: the real Terraform CLI, the local test cluster and a real
// vCluster v0.30.0 per session (chart from the Go module cache, images built by
// scripts/vcluster-harness.sh). They run when NALABO_VCLUSTER_TESTS=1 and the harness's
// variables are set (`make test` and .ci/run set them):
//
//	eval "$(scripts/vcluster-harness.sh --env)"
//	NALABO_VCLUSTER_TESTS=1 NALABO_K8S_KUBECONFIG=/var/cache/nalabo/k8s/kubeconfig TF_ACC=1 \
//	  go test ./internal/provider/ -run TestAccVCluster

// vclusterManifests: the design's nginx-demo shape plus a cluster-scoped ClusterRole and
// a Namespace with a ConfigMap, which only a vCluster session may hold.
const vclusterManifests = nginxDemoManifests + `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: workshop-reader
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
---
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  color: blue
`

// vclusterProviderConfig configures the kubernetes side of the provider for the local
// vCluster harness, or skips the test.
func vclusterProviderConfig(t *testing.T, extra string) string {
	t.Helper()
	kc := k8sKubeconfig(t)
	h := vclusterenv.FromEnv(t)
	images := ""
	if h.SyncerImage != "" {
		images = fmt.Sprintf("syncer_image = %q\ncontrol_plane_image = %q\ncoredns_image = %q\n", h.SyncerImage, h.ControlPlaneImage, h.CoreDNSImage)
	}
	if h.PullPolicy != "" {
		images += fmt.Sprintf("image_pull_policy = %q\n", h.PullPolicy)
	}
	return fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    config_path = %q
    namespace   = "nalabo-acc"
    vcluster {
      chart_path = %q
%s%s
    }
  }
}
`, kc, h.Chart, images, extra)
}

// vclusterClient is a client with a session's participant kubeconfig (its server is
// the vCluster Service's address, reachable from this host through kube-proxy).
func vclusterClient(s *terraform.State, addr string) (*vcClient, error) {
	kc, err := stateAttr(s, addr, "kubeconfig")
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(kc))
	if err != nil {
		return nil, fmt.Errorf("%s kubeconfig: %w", addr, err)
	}
	cs, err := k8sClient([]byte(kc))
	if err != nil {
		return nil, err
	}
	return &vcClient{Interface: cs, server: rc.Host, raw: []byte(kc)}, nil
}

type vcClient struct {
	k8s.Interface
	server string // the kubeconfig's API address
	raw    []byte // the kubeconfig
}

// checkVClusterIsolation: own's participant kubeconfig works against its own virtual
// API (the manifests' cluster-scoped and namespaced objects are there, the host's are
// not), a marker it creates is invisible to the other session, its credentials are
// refused by the other session's API, and the workspace's kubectl lists the virtual
// cluster's pods (own, not the other's).
func checkVClusterIsolation(t *testing.T, own, other, execAddr string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		a, err := vclusterClient(s, own)
		if err != nil {
			return err
		}
		b, err := vclusterClient(s, other)
		if err != nil {
			return err
		}
		if a.server == b.server {
			return fmt.Errorf("both sessions' kubeconfigs name the same server %s", a.server)
		}
		if _, err := a.RbacV1().ClusterRoles().Get(ctx, "workshop-reader", metav1.GetOptions{}); err != nil {
			return fmt.Errorf("%s: the manifest's ClusterRole in its virtual cluster: %w", own, err)
		}
		cm, err := a.CoreV1().ConfigMaps("demo").Get(ctx, "settings", metav1.GetOptions{})
		if err != nil || cm.Data["color"] != "blue" {
			return fmt.Errorf("%s: ConfigMap demo/settings in its virtual cluster: %v", own, err)
		}
		// The virtual cluster is the participant's: it sees its own namespaces, not the host's.
		nss, err := a.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("%s: list namespaces in its virtual cluster: %w", own, err)
		}
		for _, ns := range nss.Items {
			if strings.HasPrefix(ns.Name, "nalabo-") {
				return fmt.Errorf("%s: the virtual cluster lists the host namespace %s", own, ns.Name)
			}
		}
		marker := "only-in-" + strings.TrimPrefix(own, "nalabo_workshop_session.")
		_, err = a.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: marker}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%s: create a marker: %w", own, err)
		}
		if _, err := b.CoreV1().ConfigMaps("default").Get(ctx, marker, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s's marker read through %s's API: got %v, want NotFound", own, other, err)
		}
		// own's credentials against other's API: another CA and another client CA.
		crossed, err := clientcmd.RESTConfigFromKubeConfig(a.raw)
		if err != nil {
			return err
		}
		crossed.Host = b.server
		crossed.Timeout = 10 * time.Second
		if cs, err := k8s.NewForConfig(crossed); err != nil {
			return err
		} else if _, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
			return fmt.Errorf("%s's kubeconfig works against %s's virtual API", own, other)
		}

		// kubectl in the workspace (the exec's stdout) lists the virtual pods of its own
		// cluster and none of the other's.
		if execAddr != "" {
			out, err := stateAttr(s, execAddr, "stdout")
			if err != nil {
				return err
			}
			pods, err := a.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=nginx-demo"})
			if err != nil || len(pods.Items) == 0 {
				return fmt.Errorf("%s: virtual nginx-demo pods: %v (%d)", own, err, len(pods.Items))
			}
			for _, p := range pods.Items {
				if !strings.Contains(out, "pod/"+p.Name) {
					return fmt.Errorf("workspace kubectl does not list its virtual pod %s:\n%s", p.Name, out)
				}
			}
			theirs, err := b.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=nginx-demo"})
			if err != nil {
				return err
			}
			for _, p := range theirs.Items {
				if strings.Contains(out, "pod/"+p.Name) {
					return fmt.Errorf("workspace kubectl of %s lists %s's pod %s", own, other, p.Name)
				}
			}
		}
		// The manifests' cluster-scoped objects never reach the host cluster.
		if _, err := k8sAdmin(t).RbacV1().ClusterRoles().Get(ctx, "workshop-reader", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the manifest's ClusterRole reached the host cluster: %v", err)
		}
		return nil
	}
}

// controlPlaneUID reads the UID of a vcluster session's control-plane pod into *into;
// when *into is already set, the pod must be the same one (same) or another one.
func controlPlaneUID(t *testing.T, addr string, into *string, same bool) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ns, err := stateAttr(s, addr, "namespace")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pods, err := k8sAdmin(t).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=vcluster"})
		if err != nil {
			return err
		}
		var uids []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				uids = append(uids, string(p.UID))
			}
		}
		if len(uids) != 1 {
			return fmt.Errorf("%d control-plane pods in %s, want 1", len(uids), ns)
		}
		if *into != "" && same && *into != uids[0] {
			return fmt.Errorf("the control-plane pod of %s was replaced (%s -> %s)", addr, *into, uids[0])
		}
		if *into != "" && !same && *into == uids[0] {
			return fmt.Errorf("the control-plane pod of %s was not restarted (%s)", addr, uids[0])
		}
		*into = uids[0]
		return nil
	}
}

// vclusterCheckDestroy: on top of k8sCheckDestroy, no PersistentVolume claimed from a
// session namespace and no Helm release secret of the sessions anywhere.
func vclusterCheckDestroy(t *testing.T, namespaces *[]string, participants ...string) resource.TestCheckFunc {
	base := k8sCheckDestroy(t, participants...)
	return func(s *terraform.State) error {
		if err := base(s); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cs := k8sAdmin(t)
		pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, pv := range pvs.Items {
			for _, ns := range *namespaces {
				if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.Namespace == ns {
					return fmt.Errorf("persistent volume %s of %s remains", pv.Name, ns)
				}
			}
		}
		for _, ns := range *namespaces {
			if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("namespace %s: got %v, want NotFound", ns, err)
			}
			rel, err := cs.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=vcluster-" + strings.TrimPrefix(ns, "nalabo-session-")})
			if err != nil {
				return err
			}
			if len(rel.Items) > 0 {
				return fmt.Errorf("helm release secret %s/%s remains", rel.Items[0].Namespace, rel.Items[0].Name)
			}
			pvcs, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(pvcs.Items) > 0 {
				return fmt.Errorf("PVC %s/%s remains", ns, pvcs.Items[0].Name)
			}
		}
		return nil
	}
}

// vclusterTemplateConfig is the vcluster template "t" with vclusterManifests; isolation
// is left out: "vcluster" is the default for kubernetes templates.
func vclusterTemplateConfig(name, extra string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "kubernetes"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "1", memory = "1Gi" }
%s  manifests = <<-EOT
%s  EOT
}
`, name, extra, indent(vclusterManifests, "    "))
}

func TestAccVCluster_sessions(t *testing.T) {
	provider := vclusterProviderConfig(t, "")
	testAccSetup(t)
	name := acctest.RandName("vc")
	a, b := name+"-ada", name+"-bob"
	tmpl := vclusterTemplateConfig(name, "")
	cfgWith := func(provider, sessionExtra string) string {
		return provider + tmpl + fmt.Sprintf(`
resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %[1]q
%[3]s
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %[2]q
}

resource "nalabo_exec" "kubectl" {
  session_id = nalabo_workshop_session.a.id
  command    = ["sh", "-c", "kubectl get pods -A -o name && kubectl get clusterrole workshop-reader -o name"]
  timeout    = "60s"
}
`, a, b, sessionExtra)
	}
	cfg := func(sessionExtra string) string { return cfgWith(provider, sessionExtra) }
	// Up, not down: pods keep the limits they were created with, so a session resized
	// below what already runs in it has no room left for a restarted workload.
	resized := `  resources = { cpu = "1500m", memory = "1536Mi" }
  duration  = "2h"`
	// Chart values changed in the provider: both sessions are upgraded in place (Helm
	// upgrade, the control plane restarts, the template's manifests are re-applied).
	annotated := vclusterProviderConfig(t, `      values = <<-EOT
        controlPlane:
          statefulSet:
            annotations:
              nalabo.io/acc-values: "2"
      EOT`)
	// Persistence cannot be switched on in place: a replacement is planned.
	persistent := vclusterProviderConfig(t, "      persistence = true")
	var nsA, cpUID, valuesHash string
	var namespaces []string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             vclusterCheckDestroy(t, &namespaces, a, b),
		Steps: []resource.TestStep{
			{
				Config: cfg(""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "isolation", "vcluster"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.b", "status", "running"),
					resource.TestMatchResourceAttr("nalabo_workshop_session.a", "namespace", regexp.MustCompile(`^nalabo-session-[0-9a-f]{10}$`)),
					resource.TestMatchResourceAttr("nalabo_exec.kubectl", "stdout", regexp.MustCompile(`(?m)^pod/nginx-demo-[a-z0-9]+-[a-z0-9]+$`)),
					resource.TestMatchResourceAttr("nalabo_exec.kubectl", "stdout", regexp.MustCompile(`(?m)^pod/coredns-`)),
					resource.TestMatchResourceAttr("nalabo_exec.kubectl", "stdout", regexp.MustCompile(`(?m)^clusterrole.rbac.authorization.k8s.io/workshop-reader$`)),
					checkVClusterIsolation(t, "nalabo_workshop_session.a", "nalabo_workshop_session.b", "nalabo_exec.kubectl"),
					checkVClusterIsolation(t, "nalabo_workshop_session.b", "nalabo_workshop_session.a", ""),
					// The host quota holds the participant's resources plus the vCluster's
					// overhead (control plane 2 CPU / 1Gi, CoreDNS 100m / 128Mi).
					checkQuota(t, "nalabo_workshop_session.a", "3100m", "2176Mi"),
					captureAttr("nalabo_workshop_session.a", "namespace", &nsA),
					controlPlaneUID(t, "nalabo_workshop_session.a", &cpUID, true),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "vcluster.persistence", ""),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "vcluster.backing_store", "sqlite"),
					resource.TestMatchResourceAttr("nalabo_workshop_session.a", "vcluster.release", regexp.MustCompile(`^vcluster-[0-9a-f]{10}$`)),
					resource.TestCheckResourceAttrPair("nalabo_workshop_session.a", "vcluster.values_sha256", "nalabo_workshop_session.b", "vcluster.values_sha256"),
					captureAttr("nalabo_workshop_session.a", "vcluster.values_sha256", &valuesHash),
					func(s *terraform.State) error {
						for _, addr := range []string{"nalabo_workshop_session.a", "nalabo_workshop_session.b"} {
							ns, err := stateAttr(s, addr, "namespace")
							if err != nil {
								return err
							}
							namespaces = append(namespaces, ns)
						}
						return nil
					},
				),
			},
			// Resize and extend in place: same namespace, the quota follows, the control
			// plane keeps running (no restart: the virtual cluster keeps its state).
			{
				Config: cfg(resized),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_workshop_session.a", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals("nalabo_workshop_session.a", "namespace", &nsA),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "effective_resources.cpu", "1500m"),
					checkQuota(t, "nalabo_workshop_session.a", "3600m", "2688Mi"),
					checkLifetime("nalabo_workshop_session.a", 2*time.Hour),
					controlPlaneUID(t, "nalabo_workshop_session.a", &cpUID, true),
					checkVClusterIsolation(t, "nalabo_workshop_session.a", "nalabo_workshop_session.b", ""),
				),
			},
			// Persistence switched on: the data store cannot move in place, so the plan
			// replaces both sessions (plan only).
			{
				Config:             cfgWith(persistent, resized),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_workshop_session.a", plancheck.ResourceActionReplace),
					plancheck.ExpectResourceAction("nalabo_workshop_session.b", plancheck.ResourceActionReplace),
				}},
			},
			// Chart values changed: Helm upgrade in place, the control plane restarts with
			// them, the manifests are back in the virtual cluster, the namespace stays.
			{
				Config: cfgWith(annotated, resized),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_workshop_session.a", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("nalabo_workshop_session.b", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals("nalabo_workshop_session.a", "namespace", &nsA),
					checkAttrChanged("nalabo_workshop_session.a", "vcluster.values_sha256", &valuesHash),
					resource.TestCheckResourceAttrPair("nalabo_workshop_session.a", "vcluster.values_sha256", "nalabo_workshop_session.b", "vcluster.values_sha256"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
					controlPlaneUID(t, "nalabo_workshop_session.a", &cpUID, false),
					checkVClusterIsolation(t, "nalabo_workshop_session.a", "nalabo_workshop_session.b", ""),
					checkVClusterIsolation(t, "nalabo_workshop_session.b", "nalabo_workshop_session.a", ""),
				),
			},
		},
	})
}
