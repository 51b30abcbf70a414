package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// checkTokenKubeconfig: the participant's kubeconfig of a claimed vcluster entry holds a
// token (minted at the claim) of the virtual cluster's kube-system/nalabo-participant,
// no client certificate (made with the control plane, before the claim); with cert the
// opposite (a cold session, the positive control of the check's parsing).
func checkTokenKubeconfig(addr string, token bool) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		kc, err := stateAttr(s, addr, "kubeconfig")
		if err != nil {
			return err
		}
		cfg, err := clientcmd.Load([]byte(kc))
		if err != nil {
			return err
		}
		for name, u := range cfg.AuthInfos {
			if hasToken := u.Token != "" && len(u.ClientCertificateData) == 0; hasToken != token {
				return fmt.Errorf("%s kubeconfig user %s: token %v, client certificate %v; want token %v", addr, name, u.Token != "", len(u.ClientCertificateData) > 0, token)
			}
		}
		if !token {
			return nil
		}
		cs, err := vclusterClient(s, addr)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("%s: self subject review: %w", addr, err)
		}
		if u := who.Status.UserInfo.Username; u != "system:serviceaccount:kube-system:nalabo-participant" {
			return fmt.Errorf("%s: the kubeconfig authenticates as %q", addr, u)
		}
		return nil
	}
}

// TestAccWarmPoolVCluster: a vcluster template with warm_pool = 1; session a claims the
// entry (its ID, a token kubeconfig minted at the claim, kubectl in its workspace lists
// its virtual cluster), session b starts cold; each is isolated from the other; destroy
// leaves no namespace, release or pool entry.
func TestAccWarmPoolVCluster(t *testing.T) {
	provider := vclusterProviderConfig(t, "")
	testAccSetup(t)
	name := acctest.RandName("vc-pool")
	a, b := name+"-ada", name+"-bob"
	tmpl := vclusterTemplateConfig(name, "  warm_pool = 1\n")
	sessions := func(aExtra string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %[1]q
%[3]s
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %[2]q
  depends_on  = [nalabo_workshop_session.a] # a claims the entry, b starts cold
}

resource "nalabo_exec" "kubectl" {
  session_id = nalabo_workshop_session.a.id
  command    = ["sh", "-c", "kubectl get pods -A -o name && kubectl get clusterrole workshop-reader -o name"]
  timeout    = "60s"
}
`, a, b, aExtra)
	}
	var pool []string
	var uid, kubeconfigA string
	var templateID string
	var namespaces []string
	var claimStart time.Time
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(vclusterCheckDestroy(t, &namespaces, a, b),
			checkNoPool(t, &templateID)),
		Steps: []resource.TestStep{
			{
				Config: provider + tmpl,
				Check: resource.ComposeAggregateTestCheckFunc(
					captureAttr("nalabo_workshop_template.t", "id", &templateID),
					checkPoolFree(t, "nalabo_workshop_template.t", 1, &pool),
					func(*terraform.State) error {
						for _, id := range pool {
							namespaces = append(namespaces, "nalabo-session-"+id)
						}
						return nil
					},
				),
			},
			{
				PreConfig: func() { claimStart = time.Now() },
				Config:    provider + tmpl + sessions(""),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(s *terraform.State) error {
						t.Logf("one claimed and one cold vcluster session: plan+apply+refresh took %s", time.Since(claimStart).Round(100*time.Millisecond))
						for _, addr := range []string{"nalabo_workshop_session.a", "nalabo_workshop_session.b"} {
							ns, err := stateAttr(s, addr, "namespace")
							if err != nil {
								return err
							}
							if !strings.Contains(strings.Join(namespaces, " "), ns) {
								namespaces = append(namespaces, ns)
							}
						}
						return nil
					},
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.b", "status", "running"),
					// The host service account is the workspace pod's (no role, no token): it
					// comes with the entry. The credentials are checked in the virtual cluster.
					checkClaimed(t, "nalabo_workshop_session.a", a, &pool, nil),
					checkTokenKubeconfig("nalabo_workshop_session.a", true),
					checkTokenKubeconfig("nalabo_workshop_session.b", false),
					resource.TestCheckResourceAttr("nalabo_exec.kubectl", "exit_code", "0"),
					checkVClusterIsolation(t, "nalabo_workshop_session.a", "nalabo_workshop_session.b", "nalabo_exec.kubectl"),
					checkVClusterIsolation(t, "nalabo_workshop_session.b", "nalabo_workshop_session.a", ""),
					controlPlaneUID(t, "nalabo_workshop_session.a", &uid, true),
					captureAttr("nalabo_workshop_session.a", "kubeconfig", &kubeconfigA),
				),
				// The pool is empty now: the plan after the apply refills it.
				ExpectNonEmptyPlan: true,
			},
			// Extended: the claimed session gets a new token expiring with it, in place
			// (the release keeps the entry's labels: its control plane is not restarted),
			// and the pool is refilled.
			{
				Config: provider + tmpl + sessions(`  duration = "3h"`),
				Check: resource.ComposeAggregateTestCheckFunc(
					controlPlaneUID(t, "nalabo_workshop_session.a", &uid, true),
					checkAttrChanged("nalabo_workshop_session.a", "kubeconfig", &kubeconfigA),
					checkTokenKubeconfig("nalabo_workshop_session.a", true),
					checkLifetime("nalabo_workshop_session.a", 3*time.Hour),
					checkPoolFree(t, "nalabo_workshop_template.t", 1, nil),
				),
			},
		},
	})
}
