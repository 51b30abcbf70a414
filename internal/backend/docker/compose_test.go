package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// testComposeDir writes the files of examples/compose's shape: a site served by web (a
// bind mount from the declared directory) and the build context of app.
func testComposeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "site"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("hello from web\n"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "app"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "app", "Dockerfile"), []byte("FROM "+imageShell1+"\nRUN echo built > /BUILT\n"), 0o644))
	return dir
}

// testCompose: web (httpd on a bind mount, healthy) and app (built, depends on web
// being healthy, a named volume, a command, its own memory limit).
const testCompose = `
services:
  web:
    image: nalabo-test/healthy:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/srv"]
    volumes:
      - ./site:/srv:ro
    ports:
      - "0.0.0.0:8080:8080"
  app:
    build: ./app
    depends_on:
      web:
        condition: service_healthy
    command: ["sh", "-c", "cat /BUILT > /data/built; sleep infinity"]
    environment:
      GREETING: bonjour
    volumes:
      - data:/data
    mem_limit: 32m
volumes:
  data: {}
`

func TestComposeSession(t *testing.T) {
	b := newTestBackend(t)
	dir := testComposeDir(t)
	name := "dtest-compose-" + workshop.NewSessionID()[:6]
	tpl := applyTemplate(t, b, &workshop.Template{
		Name: name, Workspace: workshop.Workspace{Image: imageShell1},
		Compose: testCompose, ComposeDir: dir,
		Resources: workshop.Resources{CPU: "600m", Memory: "256Mi"},
	})
	if len(tpl.ComposeBuilds) != 1 || tpl.ComposeBuilds["app"] == "" {
		t.Fatalf("compose builds = %v", tpl.ComposeBuilds)
	}
	if len(tpl.Images) != 3 {
		t.Fatalf("images = %v, want workspace, web and the built app", tpl.Images)
	}
	spec := newSpec(tpl, "ada")
	spec.Resources = workshop.Resources{CPU: "600m", Memory: "256Mi", Storage: "1Gi"}
	start := time.Now()
	s := createSession(t, b, spec)
	t.Logf("compose session up in %s", time.Since(start).Round(time.Millisecond))
	ws := workshop.SessionObjectName(spec.ID)
	want := []string{ws, ws + "-app", ws + "-web"}
	if strings.Join(s.Containers, ",") != strings.Join(want, ",") {
		t.Fatalf("containers = %v, want %v", s.Containers, want)
	}
	if s.Resources.CPU != "600m" || s.Resources.Memory != "256Mi" {
		t.Fatalf("resources = %+v, want the budget 600m/256Mi as the sum", s.Resources)
	}
	var webPort *workshop.Port
	for i, p := range s.Ports {
		if p.Container == "web" {
			webPort = &s.Ports[i]
		}
	}
	if webPort == nil || webPort.HostIP != "127.0.0.1" || webPort.ContainerPort != 8080 {
		t.Fatalf("ports = %+v, want web's 8080 on 127.0.0.1", s.Ports)
	}
	// Limits: app has its own 32Mi; the workspace and web share the rest.
	ins, err := b.cli.ContainerInspect(testCtx(t, 10*time.Second), ws+"-app")
	if err != nil {
		t.Fatal(err)
	}
	if ins.HostConfig.Memory != 32*1024*1024 || ins.HostConfig.NanoCPUs != 200e6 {
		t.Fatalf("app limits: memory %d cpu %d", ins.HostConfig.Memory, ins.HostConfig.NanoCPUs)
	}
	if ins.HostConfig.Privileged || ins.HostConfig.CapDrop[0] != "ALL" || len(ins.HostConfig.SecurityOpt) == 0 {
		t.Fatalf("app security: %+v %+v", ins.HostConfig.CapDrop, ins.HostConfig.SecurityOpt)
	}
	if ins.Config.Labels[workshop.LabelRole] != workshop.RoleService || ins.Config.Labels[LabelService] != "app" {
		t.Fatalf("app labels: %v", ins.Config.Labels)
	}
	// The workspace reaches web by name; app wrote into its named volume.
	res := exec(t, b, spec.ID, `ip=$(nslookup web 2>/dev/null | awk '/^Address/ && $NF !~ /:53$/ {a=$NF} END {print a}'); timeout 3 wget -qO- http://$ip:8080/`)
	wantContains(t, res.Stdout, "hello from web", "web through the session network: "+res.Stderr)
	res, err = b.Exec(testCtx(t, 10*time.Second), spec.ID, &workshop.ExecRequest{Container: "app", Command: []string{"sh", "-c", "cat /data/built; echo $GREETING"}})
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, res.Stdout, "built\nbonjour", "app's volume and env")
	vols := strings.Join(s.Volumes, ",")
	wantContains(t, vols, ws+"-data", "named volume per session")

	// Update: the new budget is shared again.
	spec.Resources.CPU = "900m"
	s, err = b.UpdateSession(testCtx(t, 30*time.Second), spec.ID, spec)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.CPU != "900m" {
		t.Fatalf("after update cpu = %s", s.Resources.CPU)
	}

	// A session whose resources cannot hold the services fails before creating anything.
	small := newSpec(tpl, "bob")
	small.Resources = workshop.Resources{CPU: "600m", Memory: "16Mi", Storage: "1Gi"}
	if _, err := b.CreateSession(testCtx(t, 30*time.Second), small); err == nil || !strings.Contains(err.Error(), "app") {
		t.Fatalf("over-budget session: err = %v", err)
	}
	if left := leftovers(t, b, small.ID); len(left) > 0 {
		t.Fatalf("over-budget session left %v", left)
	}

	// A template service removed outside: the session is degraded (replaced).
	if err := b.removeNamedContainers(testCtx(t, 20*time.Second), []string{ws + "-web"}); err != nil {
		t.Fatal(err)
	}
	if s, err = b.GetSession(testCtx(t, 10*time.Second), spec.ID); err != nil || s.Status != workshop.StatusDegraded {
		t.Fatalf("session without web: %v %+v", err, s)
	}
}
