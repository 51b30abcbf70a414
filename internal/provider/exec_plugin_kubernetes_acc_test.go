package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// buildExecPlugin builds internal/acctest/execplugin into dir.
func buildExecPlugin(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(dir, "execplugin")
	cmd := exec.Command(goBin, "build", "-o", bin, "../acctest/execplugin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the exec plugin: %v\n%s", err, out)
	}
	return bin
}

// tokenRotation hands out cluster-admin ServiceAccount tokens through a file, a new
// one every period, and revokes (deletes the ServiceAccount of) each token two periods
// after it was issued: a client still using a token past that fails.
type tokenRotation struct {
	cs     k8s.Interface
	file   string
	mu     sync.Mutex
	issued int
	live   []string
}

const execTestNamespace = "default"

func (r *tokenRotation) issue(ctx context.Context) error {
	name := acctest.RandName("nalabo-exec")
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: execTestNamespace}}
	if _, err := r.cs.CoreV1().ServiceAccounts(execTestNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: execTestNamespace}},
	}
	r.mu.Lock()
	r.live = append(r.live, name) // before the binding: revoke removes what exists
	r.mu.Unlock()
	if _, err := r.cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		return err
	}
	tr, err := r.cs.CoreV1().ServiceAccounts(execTestNamespace).CreateToken(ctx, name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	tmp := r.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(tr.Status.Token), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, r.file); err != nil {
		return err
	}
	r.mu.Lock()
	r.issued++
	var old []string
	if len(r.live) > 2 {
		old, r.live = r.live[:len(r.live)-2], r.live[len(r.live)-2:]
	}
	r.mu.Unlock()
	for _, n := range old {
		r.revoke(ctx, n)
	}
	return nil
}

func (r *tokenRotation) revoke(ctx context.Context, name string) {
	_ = r.cs.CoreV1().ServiceAccounts(execTestNamespace).Delete(ctx, name, metav1.DeleteOptions{})
	_ = r.cs.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
}

func (r *tokenRotation) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issued
}

// rotateTokens starts a tokenRotation writing to file (stopped and cleaned at the end
// of the test).
func rotateTokens(t *testing.T, cs k8s.Interface, file string, period time.Duration) *tokenRotation {
	t.Helper()
	r := &tokenRotation{cs: cs, file: file}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.issue(ctx); err != nil {
		cancel()
		t.Fatalf("issue a token: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := r.issue(ctx); err != nil && ctx.Err() == nil {
					t.Logf("token rotation: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		r.mu.Lock()
		live := r.live
		r.mu.Unlock()
		for _, n := range live {
			r.revoke(context.Background(), n)
		}
	})
	return r
}

// execPluginRuns counts the lines of the plugin's log.
func execPluginRuns(t *testing.T, log string) int {
	t.Helper()
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestAccKubernetesExecPluginRefresh: a kubeconfig-less provider (host, CA and an exec
// block) authenticates with a credential plugin the test builds. Its tokens are valid
// for a minute at most here: the plugin says each expires 5 s after it was handed out
// and the test revokes every token 16 s after issuing it. An apply that lasts longer
// (a session, a 20-second exec in it, then a second session) succeeds only if the
// provider runs the plugin again when a token expires: it must have run several times.
// Negative: a plugin that exits 1 is an error naming kubernetes.exec.
func TestAccKubernetesExecPluginRefresh(t *testing.T) {
	testAccSetup(t)
	kc := k8sKubeconfig(t)
	admin := k8sAdmin(t)
	raw, err := os.ReadFile(kc)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	ca := rc.CAData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(rc.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	plugin := buildExecPlugin(t, dir)
	tokenFile, log := filepath.Join(dir, "token"), filepath.Join(dir, "runs.log")
	rot := rotateTokens(t, admin, tokenFile, 8*time.Second)

	provider := func(fail bool) string {
		f := ""
		if fail {
			f = "\n        NALABO_EXEC_FAIL = \"1\""
		}
		return fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    host                   = %q
    cluster_ca_certificate = %q
    namespace              = "nalabo-acc"
    exec {
      api_version = "client.authentication.k8s.io/v1"
      command     = %q
      env = {
        NALABO_EXEC_TOKEN_FILE = %q
        NALABO_EXEC_LOG        = %q
        NALABO_EXEC_TTL        = "5"%s
      }
    }
  }
}
`, rc.Host, string(ca), plugin, tokenFile, log, f)
	}
	name := acctest.RandName("execplug")
	pa, pb := acctest.RandName("ada"), acctest.RandName("bob")
	classConfig := provider(false) + k8sTemplateConfig("t", name, "", "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}

resource "nalabo_exec" "wait" {
  session_id = nalabo_workshop_session.a.id
  command    = ["sleep", "20"]
  timeout    = "2m"
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  depends_on  = [nalabo_exec.wait]
}
`, pa, pb)
	var runsBefore, issuedBefore int
	var started time.Time
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, pa, pb),
		Steps: []resource.TestStep{
			{
				// Negative: the plugin fails; the error names kubernetes.exec.
				Config:      provider(true) + k8sTemplateConfig("t", name, "", ""),
				ExpectError: wrapped("kubernetes.exec"),
			},
			{
				PreConfig: func() {
					runsBefore, issuedBefore, started = execPluginRuns(t, log), rot.count(), time.Now()
				},
				Config: classConfig,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.b", "status", "running"),
					func(*terraform.State) error {
						runs, issued := execPluginRuns(t, log)-runsBefore, rot.count()-issuedBefore
						t.Logf("apply of %s: the plugin ran %d times, %d tokens issued", time.Since(started).Round(time.Second), runs, issued)
						if issued < 2 {
							return fmt.Errorf("only %d tokens were issued during the apply: it did not outlive a token", issued)
						}
						if runs < 3 {
							return fmt.Errorf("the exec plugin ran %d times during a %s apply with 5-second credentials, want at least 3", runs, time.Since(started))
						}
						return nil
					},
				),
			},
		},
	})
}
