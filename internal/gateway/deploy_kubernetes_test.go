package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const (
	gatewayDeployDir = "../../examples/deploy/gateway/kubernetes"
	// testControlNS is where kubeBackend stores templates.
	testControlNS = "nalabo-test"
)

// gatewayRBAC returns the shipped service account and RBAC with the service account
// in ns, cluster-scoped names suffixed, and the templates Role in the test control
// namespace, so the test never collides with a real installation.
func gatewayRBAC(t *testing.T, ns string, files ...string) string {
	t.Helper()
	var docs []string
	if len(files) == 0 {
		files = []string{"serviceaccount.yaml", "rbac.yaml"}
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(gatewayDeployDir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range strings.Split(string(b), "\n---\n") {
			d = strings.TrimRight(d, "\n") + "\n"
			d = strings.ReplaceAll(d, "name: nalabo-gateway-templates\n", "name: "+ns+"-templates\n")
			d = strings.ReplaceAll(d, "name: nalabo-gateway-apply\n", "name: "+ns+"-apply\n")
			d = strings.ReplaceAll(d, "policyName: nalabo-gateway-apply\n", "policyName: "+ns+"-apply\n")
			d = strings.ReplaceAll(d, "system:serviceaccount:nalabo:nalabo-gateway", "system:serviceaccount:"+ns+":"+ns)
			d = strings.ReplaceAll(d, "name: nalabo-gateway\n", "name: "+ns+"\n")
			d = strings.ReplaceAll(d, "    namespace: nalabo\n", "    namespace: "+ns+"\n") // subjects
			meta := ns
			if strings.Contains(d, "kind: Role\n") || strings.Contains(d, "kind: RoleBinding\n") {
				meta = testControlNS
			}
			d = strings.ReplaceAll(d, "  namespace: nalabo\n", "  namespace: "+meta+"\n")
			docs = append(docs, d)
		}
	}
	all := strings.Join(docs, "\n---\n")
	if strings.Contains(all, "namespace: nalabo\n") || strings.Contains(all, "nalabo-gateway\n") {
		t.Fatalf("manifests not fully renamed:\n%s", all)
	}
	return all
}

func kubectl(t *testing.T, kubeconfig, stdin string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		bin = "/var/cache/nalabo/k8s/bin/kubectl"
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

// TestKubernetesGatewayDeployRBAC runs the gateway with nothing but the shipped
// ServiceAccount's token: the page, the terminal, a web port through the API server's
// proxy, execute and "check my work" all work; reading secrets, creating pods and
// reading ConfigMaps outside the control namespace are forbidden.
func TestKubernetesGatewayDeployRBAC(t *testing.T) {
	admin := kubeBackend(t) // skips without the test cluster
	kubeconfig := os.Getenv("NALABO_K8S_KUBECONFIG")
	ctx := ctxFor(t, 5*time.Minute)
	ns := acctest.RandName("nalabo-gtest-deploy")
	rbac := gatewayRBAC(t, ns)
	kubectl(t, kubeconfig, "", "create", "namespace", ns)
	t.Cleanup(func() { kubectl(t, kubeconfig, "", "delete", "namespace", "--wait=false", "--ignore-not-found", ns) })
	kubectl(t, kubeconfig, rbac, "apply", "-f", "-")
	t.Cleanup(func() { kubectl(t, kubeconfig, rbac, "delete", "--wait=false", "--ignore-not-found", "-f", "-") })

	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs := k8s.NewForConfigOrDie(rc)
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, ns, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca := rc.CAData
	if len(ca) == 0 && rc.CAFile != "" {
		if ca, err = os.ReadFile(rc.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	restricted, err := kubernetes.New(kubernetes.Config{Host: rc.Host, Token: tok.Status.Token, ClusterCACertificate: string(ca), Namespace: testControlNS})
	if err != nil {
		t.Fatal(err)
	}
	sa := k8s.NewForConfigOrDie(&rest.Config{Host: rc.Host, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: ca}})

	// The class is Terraform's (the admin's rights).
	tpl, err := admin.ApplyTemplate(ctx, &workshop.Template{
		Name: acctest.RandName("gwrbac"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace:    workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests:    nginxDemo,
		Resources:    workshop.Resources{CPU: "1", Memory: "512Mi", Storage: "1Gi"},
		Instructions: "# RBAC\n",
		Validations: []workshop.Validation{
			{Name: "greets", Command: []string{"sh", "-c", "echo hello"}, OutputPattern: "^hello"},
			{Name: "has-answer", Command: []string{"sh", "-c", "test -f /tmp/answer"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.DeleteTemplate(context.Background(), tpl.ID) })
	s := createSession(t, admin, tpl, "rita", time.Hour)

	g := startGateway(t, restricted)
	tok2 := g.key.Sign(s.ID, s.ExpiresAt)
	// The RBAC needs a moment to be effective.
	var page response
	waitFor(t, time.Minute, "the service account reads the session", func() bool {
		page = g.do(t, "GET", "/s/"+s.ID+"/", tok2, "", nil)
		return page.code == 200
	})
	if !strings.Contains(page.body, ">rita<") || !strings.Contains(page.body, `href="port/80/"`) || !strings.Contains(page.body, ">RBAC</h1>") {
		t.Fatalf("page with the service account: %s", page.body)
	}
	if r := g.do(t, "GET", "/readyz", "", "", nil); r.code != 200 {
		t.Errorf("/readyz with the service account: %d %s", r.code, r.body)
	}
	var r response
	waitFor(t, 2*time.Minute, "nginx-demo answers through the gateway", func() bool {
		r = g.do(t, "GET", "/s/"+s.ID+"/port/80/", tok2, "", nil)
		return r.code == 200
	})
	if !strings.Contains(r.body, "nalabo-test httpd") {
		t.Fatalf("web port with the service account: %q", r.body)
	}
	ws, resp, err := g.dialTerminal(t, s.ID, tok2, g.http.URL)
	if err != nil {
		t.Fatalf("terminal with the service account: %v %v", err, resp)
	}
	_ = ws.WriteMessage(websocket.BinaryMessage, []byte("echo $((6*7))\r"))
	readUntil(t, ws, "\r\n42\r\n", time.Minute)
	ws.Close()
	r = g.api(t, "POST", s.ID+"/execute", testAPIKey, `{"command":"echo 42 > /tmp/answer; sleep 60","timeout":1000}`)
	var e executeResponse
	if r.code != 200 || json.Unmarshal([]byte(r.body), &e) != nil || !e.TimedOut || e.KillError != "" {
		t.Fatalf("execute with timeout and kill, with the service account: %d %s", r.code, r.body)
	}
	r = g.api(t, "POST", s.ID+"/validate", testAPIKey, "")
	if r.code != 200 || !strings.Contains(r.body, `"passed":true`) {
		t.Fatalf("validate with the service account: %d %s", r.code, r.body)
	}

	// What the service account must not do.
	sessNS := workshop.SessionObjectName(s.ID)
	if _, err := sa.CoreV1().Secrets(sessNS).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing a session's secrets: want forbidden, got %v", err)
	}
	if _, err := sa.CoreV1().Secrets(sessNS).Get(ctx, "nalabo-kubeconfig", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("reading the participant's kubeconfig: want forbidden, got %v", err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}
	if _, err := sa.CoreV1().Pods(sessNS).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
		t.Errorf("creating a pod: want forbidden, got %v", err)
	}
	if _, err := sa.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("reading a ConfigMap outside the control namespace: want forbidden, got %v", err)
	}
	if err := sa.CoreV1().Namespaces().Delete(ctx, sessNS, metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting a session namespace: want forbidden, got %v", err)
	}
	// Without rbac-apply.yaml, POST .../apply of yaml is refused by the API server.
	const cms = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: step}\ndata: {v: %s}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: step}\nspec: {ports: [{port: 80}]}\n"
	applyBody := func(v, id string) string {
		m := map[string]string{"configuration": strings.Replace(cms, "%s", v, 1), "type": "yaml"}
		if id != "" {
			m["id"] = id
		}
		raw, _ := json.Marshal(m)
		return string(raw)
	}
	if r := g.api(t, "POST", s.ID+"/apply", testAPIKey, applyBody("one", "")); r.code == 200 || !strings.Contains(r.body, "forbidden") {
		t.Errorf("apply yaml without rbac-apply.yaml: %d %s", r.code, r.body)
	}

	t.Run("rbac-apply.yaml", func(t *testing.T) {
		applyRBAC := gatewayRBAC(t, ns, "rbac-apply.yaml")
		kubectl(t, kubeconfig, applyRBAC, "apply", "-f", "-")
		t.Cleanup(func() { kubectl(t, kubeconfig, applyRBAC, "delete", "--wait=false", "--ignore-not-found", "-f", "-") })
		var r response
		waitFor(t, time.Minute, "the gateway applies YAML with rbac-apply.yaml", func() bool {
			r = g.api(t, "POST", s.ID+"/apply", testAPIKey, applyBody("one", ""))
			return r.code == 200
		})
		var got applyResponse
		if json.Unmarshal([]byte(r.body), &got) != nil || len(got.Objects) != 2 {
			t.Fatalf("apply yaml with the service account: %s", r.body)
		}
		// Re-applying with the id first deletes by the apply's label over every kind,
		// most of which the role may not list.
		r = g.api(t, "POST", s.ID+"/apply", testAPIKey, applyBody("two", got.ID))
		if r.code != 200 || !strings.Contains(r.body, `"replaced":true`) {
			t.Fatalf("re-apply yaml with the service account: %d %s", r.code, r.body)
		}
		if cm, err := sa.CoreV1().ConfigMaps(sessNS).Get(ctx, "step", metav1.GetOptions{}); err != nil || cm.Data["v"] != "two" {
			t.Fatalf("the re-applied ConfigMap: %v %+v", err, cm)
		}
		// The admission policy: writes outside session namespaces are denied; the same
		// write in the session's namespace is the control.
		cm := func(name string) *corev1.ConfigMap {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "x"}}
		}
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		if _, err := sa.CoreV1().ConfigMaps(sessNS).Create(ctx, cm("control"), dry); err != nil {
			t.Fatalf("control: a ConfigMap in the session namespace: %v", err)
		}
		waitFor(t, time.Minute, "the admission policy denies a ConfigMap in the control namespace", func() bool {
			_, err := sa.CoreV1().ConfigMaps(testControlNS).Create(ctx, cm("escape"), dry)
			return err != nil && strings.Contains(err.Error(), "session namespaces")
		})
		if _, err := sa.CoreV1().ConfigMaps("default").Create(ctx, cm("escape"), dry); err == nil || !strings.Contains(err.Error(), "session namespaces") {
			t.Errorf("a ConfigMap in namespace default: want denied, got %v", err)
		}
		if _, err := sa.CoreV1().Secrets(sessNS).Get(ctx, "nalabo-kubeconfig", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("reading the participant's kubeconfig with rbac-apply.yaml: want forbidden, got %v", err)
		}
		if _, err := sa.CoreV1().Pods(sessNS).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
			t.Errorf("creating a pod with rbac-apply.yaml: want forbidden, got %v", err)
		}
	})
}
