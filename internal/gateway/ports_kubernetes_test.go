package gateway

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// nginxDemo is the nginx-demo template shape (a Deployment and its Service, port 80 to
// the container's 8080) with the test cluster's web server image.
const nginxDemo = `apiVersion: apps/v1
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

func kubeBackend(t *testing.T) *kubernetes.Backend {
	t.Helper()
	path := os.Getenv("NALABO_K8S_KUBECONFIG")
	if path == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set (start the test cluster: scripts/testcluster-up.sh)")
	}
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: path, Namespace: "nalabo-test"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKubernetesGatewayWebPorts opens the nginx-demo Service of a namespace session
// through the API server's service proxy, and refuses an undeclared port and another
// session's token (the same request with the right token is the control).
func TestKubernetesGatewayWebPorts(t *testing.T) {
	b := kubeBackend(t)
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwport"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
		Manifests: nginxDemo,
		Resources: workshop.Resources{CPU: "1", Memory: "512Mi", Storage: "1Gi"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	s := createSession(t, b, tpl, "nina", time.Hour)
	g := startGateway(t, b)
	tok := g.key.Sign(s.ID, s.ExpiresAt)

	page := g.do(t, "GET", "/s/"+s.ID+"/", tok, "", nil)
	if page.code != 200 || !strings.Contains(page.body, `href="port/80/"`) || !strings.Contains(page.body, "nginx-demo:80") {
		t.Fatalf("page without the nginx-demo link: %d %s", page.code, page.body)
	}
	var r response
	waitFor(t, 2*time.Minute, "nginx-demo answers through the gateway", func() bool {
		r = g.do(t, "GET", "/s/"+s.ID+"/port/80/", tok, "", nil)
		return r.code == 200
	})
	if !strings.Contains(r.body, "nalabo-test httpd") {
		t.Fatalf("nginx-demo page: %q", r.body)
	}
	t.Logf("nginx-demo through the API server's proxy: %.80q", r.body)
	if r := g.do(t, "GET", "/s/"+s.ID+"/port/8080/", tok, "", nil); r.code != http.StatusNotFound {
		t.Errorf("undeclared port (the container port behind the Service): %d", r.code)
	}
	other := g.key.Sign("0123456789", s.ExpiresAt)
	if r := g.do(t, "GET", "/s/"+s.ID+"/port/80/", other, "", nil); r.code != http.StatusForbidden {
		t.Errorf("another session's token: %d", r.code)
	}
}
