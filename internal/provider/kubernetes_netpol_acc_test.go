package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/testnet"
)

// probeExec is a nalabo_exec in session sess that fetches http://target:port/ and prints
// "reached" when the answer contains want, else "blocked" (always exit 0, so a blocked
// probe does not fail the apply). target may be an HCL interpolation.
func probeExec(name, sess, target string, port int, want string) string {
	return fmt.Sprintf(`
resource "nalabo_exec" %[1]q {
  session_id = nalabo_workshop_session.%[2]s.id
  timeout    = "30s"
  script     = <<-EOT
    if %[3]s | grep -q '%[4]s'; then echo reached; else echo blocked; fi
  EOT
}
`, name, sess, testnet.Probe(target, port, "/"), want)
}

// ipExec prints an address read with the participant's kubectl in the session's own
// namespace (the other session's addresses are not known to Terraform otherwise).
func ipExec(name, sess, kubectlArgs string) string {
	return fmt.Sprintf(`
resource "nalabo_exec" %[1]q {
  session_id = nalabo_workshop_session.%[2]s.id
  timeout    = "30s"
  script     = "kubectl %[3]s"
}
`, name, sess, kubectlArgs)
}

// TestAccKubernetes_networkPolicies: sessions created by the real Terraform CLI are held
// by their NetworkPolicies (the test cluster enforces them with kube-network-policies):
// session A reaches its own web pod and service and an allowed outside listener, not
// session B's pod or service, nor a listener in the provider's kubernetes.egress_deny; B
// reaches its own pod (the positive control for A -> B). The metadata address is checked
// in the policy, never probed.
func TestAccKubernetes_networkPolicies(t *testing.T) {
	kc := k8sKubeconfig(t)
	testAccSetup(t)
	const host, denied, allowed = "203.0.113.137", "203.0.113.138", "203.0.113.139"
	testnet.Start(t, host, denied, allowed)
	name := acctest.RandName("k8s-np")
	a, b := name+"-ada", name+"-bob"
	const web = "nalabo-test httpd"
	podIP := `get pods -l app=nginx-demo -o 'jsonpath={.items[0].status.podIP}'`
	svcIP := `get service nginx-demo -o 'jsonpath={.spec.clusterIP}'`
	cfg := fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    config_path = %[1]q
    namespace   = "nalabo-acc"
    egress_deny = ["169.254.169.254/32", "fd00:ec2::254/128", "%[2]s/32"]
  }
}
`, kc, denied) + k8sTemplateConfig("t", name, nginxDemoManifests, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %[1]q
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %[2]q
}
`, a, b) +
		ipExec("a_pod", "a", podIP) + ipExec("a_svc", "a", svcIP) +
		ipExec("b_pod", "b", podIP) + ipExec("b_svc", "b", svcIP) +
		probeExec("a_own_pod", "a", "${nalabo_exec.a_pod.stdout}", 8080, web) +
		probeExec("a_own_svc", "a", "${nalabo_exec.a_svc.stdout}", 80, web) +
		probeExec("b_own_pod", "b", "${nalabo_exec.b_pod.stdout}", 8080, web) +
		probeExec("a_allowed", "a", allowed, testnet.Port, testnet.Body(allowed)) +
		probeExec("a_to_b_pod", "a", "${nalabo_exec.b_pod.stdout}", 8080, web) +
		probeExec("a_to_b_svc", "a", "${nalabo_exec.b_svc.stdout}", 80, web) +
		probeExec("b_to_a_pod", "b", "${nalabo_exec.a_pod.stdout}", 8080, web) +
		probeExec("a_denied", "a", denied, testnet.Port, testnet.Body(denied))

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, a, b),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestMatchResourceAttr("nalabo_exec.b_pod", "stdout", regexp.MustCompile(`^10\.88\.\d+\.\d+$`)),
				// Positive controls: the same probes succeed where the policies allow them.
				resource.TestCheckResourceAttr("nalabo_exec.a_own_pod", "stdout", "reached\n"),
				resource.TestCheckResourceAttr("nalabo_exec.a_own_svc", "stdout", "reached\n"),
				resource.TestCheckResourceAttr("nalabo_exec.b_own_pod", "stdout", "reached\n"),
				resource.TestCheckResourceAttr("nalabo_exec.a_allowed", "stdout", "reached\n"),
				// What the policies refuse (if these fail: is kube-network-policies running?).
				resource.TestCheckResourceAttr("nalabo_exec.a_to_b_pod", "stdout", "blocked\n"),
				resource.TestCheckResourceAttr("nalabo_exec.a_to_b_svc", "stdout", "blocked\n"),
				resource.TestCheckResourceAttr("nalabo_exec.b_to_a_pod", "stdout", "blocked\n"),
				resource.TestCheckResourceAttr("nalabo_exec.a_denied", "stdout", "blocked\n"),
				checkEgressExcepts(t, "nalabo_workshop_session.a", "169.254.169.254/32", "fd00:ec2::254/128", denied+"/32"),
			),
		}},
	})
}

// checkEgressExcepts reads the session's egress NetworkPolicy: every CIDR is in its
// except lists.
func checkEgressExcepts(t *testing.T, addr string, cidrs ...string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ns, err := stateAttr(s, addr, "namespace")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		np, err := k8sAdmin(t).NetworkingV1().NetworkPolicies(ns).Get(ctx, "nalabo-egress-no-metadata", metav1.GetOptions{})
		if err != nil {
			return err
		}
		var except []string
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.To {
				if p.IPBlock != nil {
					except = append(except, p.IPBlock.Except...)
				}
			}
		}
		for _, c := range cidrs {
			if !slices.Contains(except, c) {
				return fmt.Errorf("%s: %s is not denied by the egress policy (except lists %v)", ns, c, except)
			}
		}
		return nil
	}
}

// A bad kubernetes.egress_deny entry is refused at plan time, naming the attribute.
func TestAccKubernetes_egressDenyInvalid(t *testing.T) {
	testAccSetup(t)
	for bad, want := range map[string]string{
		"169.254.169.254":  `is not a CIDR`,
		"203.0.113.5/24":   `has host bits set; write 203.0.113.0/24`,
		"0.0.0.0/0":        `would deny every address`,
		"fd00:ec2::254/64": `has host bits set; write fd00:ec2::/64`,
	} {
		t.Run(bad, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config: fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    host        = "https://127.0.0.1:6443"
    egress_deny = ["169.254.169.254/32", %q]
  }
}
`, bad) + k8sTemplateConfig("t", "bad", "", ""),
					PlanOnly:    true,
					ExpectError: regexp.MustCompile(`kubernetes\.egress_deny\[1\][\s\S]*` + strings.ReplaceAll(regexp.QuoteMeta(want), " ", `\s+`)),
				}},
			})
		})
	}
}
