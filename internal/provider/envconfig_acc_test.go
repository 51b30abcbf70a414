package provider

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
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

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// k8sEnvCredentials is what a remote runner gets instead of a kubeconfig file: the
// test cluster's API address and CA (from its kubeconfig) and the token of a service
// account created here with cluster-admin (the provider creates namespaces, RBAC and
// policies). The account is removed at the end of the test.
type k8sEnvCredentials struct {
	server string
	caPEM  []byte
	token  string
}

func newK8sEnvCredentials(t *testing.T) k8sEnvCredentials {
	t.Helper()
	kc := k8sKubeconfig(t)
	raw, err := clientcmd.LoadFromFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	cluster := raw.Clusters[raw.Contexts[raw.CurrentContext].Cluster]
	if cluster == nil || len(cluster.CertificateAuthorityData) == 0 {
		t.Fatalf("%s: the current context's cluster has no certificate-authority-data", kc)
	}
	cs := k8sAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := acctest.RandName("nalabo-acc-env")
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: "default"}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = cs.CoreV1().ServiceAccounts("default").Delete(ctx, name, metav1.DeleteOptions{})
	})
	tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return k8sEnvCredentials{server: cluster.Server, caPEM: cluster.CertificateAuthorityData, token: tr.Status.Token}
}

// TestAccKubernetesFromEnvironment: no kubernetes block, no kubeconfig; K8S_ENDPOINT,
// K8S_TOKEN and K8S_CLUSTER_CA_CERTIFICATE (base64, as an HCP Terraform variable would
// hold it) configure the backend, which applies and destroys a namespace session. A
// wrong K8S_TOKEN fails with an error that names where the settings came from.
// Not parallel: it sets the process environment the in-process provider reads.
func TestAccKubernetesFromEnvironment(t *testing.T) {
	testAccSetup(t)
	creds := newK8sEnvCredentials(t)
	for _, v := range []string{"KUBECONFIG", "KUBE_CONFIG_PATH", "K8S_CONTEXT", "K8S_INSECURE"} {
		t.Setenv(v, "")
	}
	t.Setenv("K8S_ENDPOINT", creds.server)
	t.Setenv("K8S_CLUSTER_CA_CERTIFICATE", base64.StdEncoding.EncodeToString(creds.caPEM))
	t.Setenv("K8S_NAMESPACE", "nalabo-acc")
	t.Setenv("K8S_TOKEN", "")

	name := acctest.RandName("k8s-env")
	participant := name + "-ada"
	cfg := `
provider "nalabo" {}
` + k8sTemplateConfig("t", name, "", "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, participant)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, participant),
		Steps: []resource.TestStep{
			{
				// Positive control first: a token the API server refuses.
				PreConfig:   func() { t.Setenv("K8S_TOKEN", "not-a-valid-token") },
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)Cannot reach the Kubernetes cluster.*from\s+the\s+environment:\s+K8S_ENDPOINT,\s+K8S_TOKEN,\s+K8S_CLUSTER_CA_CERTIFICATE.*refused\s+the\s+credentials\s+\(401\s+Unauthorized`),
			},
			{
				PreConfig: func() { t.Setenv("K8S_TOKEN", creds.token) },
				Config:    cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", "running"),
					func(s *terraform.State) error {
						ns, err := stateAttr(s, "nalabo_workshop_session.s", "namespace")
						if err != nil {
							return err
						}
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						got, err := k8sAdmin(t).CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
						if err != nil {
							return fmt.Errorf("session namespace %s: %w", ns, err)
						}
						if got.Labels["nalabo.io/participant"] != participant {
							return fmt.Errorf("namespace %s labels %v", ns, got.Labels)
						}
						return nil
					},
				),
			},
		},
	})
}
