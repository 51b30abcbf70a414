package docker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func objectNames(inv *workshop.Inventory) string {
	var out []string
	for _, o := range inv.Objects {
		out = append(out, o.Kind+":"+o.Name+":"+o.Status)
	}
	return strings.Join(out, ",")
}

func TestApplyConfig(t *testing.T) {
	b := newTestBackend(t)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-apply", Workspace: workshop.Workspace{Image: imageShell1}})
	spec := newSpec(tpl, "ada")
	createSession(t, b, spec)
	id := spec.ID
	ws := workshop.SessionObjectName(id)
	applyID := "a1b2c3d4"

	// compose: two services, one with a volume.
	two := `
services:
  cache:
    image: nalabo-test/shell:1
    command: ["sh", "-c", "echo cached > /data/x; sleep infinity"]
    volumes: [cachedata:/data]
  extra:
    image: nalabo-test/healthy:1
    depends_on:
      cache: {condition: service_started}
volumes:
  cachedata: {}
`
	inv, err := b.ApplyConfig(testCtx(t, time.Minute), id, &workshop.Config{ID: applyID, Type: workshop.ConfigCompose, Content: two}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := objectNames(inv)
	for _, want := range []string{"container:" + ws + "-cache:running", "container:" + ws + "-extra:healthy", "volume:" + ws + "-cachedata:present"} {
		wantContains(t, got, want, "inventory")
	}
	s, err := b.GetSession(testCtx(t, 10*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resources.CPU != "500m" || s.Resources.Memory != "256Mi" || len(s.Containers) != 3 {
		t.Fatalf("session after apply: %+v", s)
	}
	res := exec(t, b, id, "nslookup cache >/dev/null && echo found")
	wantContains(t, res.Stdout, "found", "service name resolves")

	// Update: extra is pruned, cache kept as is (same container), its volume stays.
	before, _ := b.cli.ContainerInspect(testCtx(t, 5*time.Second), ws+"-cache")
	one := strings.SplitN(two, "  extra:", 2)[0] + "volumes:\n  cachedata: {}\n"
	inv, err = b.ApplyConfig(testCtx(t, time.Minute), id, &workshop.Config{ID: applyID, Type: workshop.ConfigCompose, Content: one}, inv)
	if err != nil {
		t.Fatal(err)
	}
	got = objectNames(inv)
	if strings.Contains(got, "extra") {
		t.Fatalf("extra not pruned: %s", got)
	}
	after, _ := b.cli.ContainerInspect(testCtx(t, 5*time.Second), ws+"-cache")
	if before.ID != after.ID {
		t.Fatal("unchanged service was recreated")
	}

	// Drift: a container removed outside shows as missing.
	if err := b.removeNamedContainers(testCtx(t, 10*time.Second), []string{ws + "-cache"}); err != nil {
		t.Fatal(err)
	}
	read, err := b.ReadConfig(testCtx(t, 10*time.Second), id, inv)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, objectNames(read), "container:"+ws+"-cache:missing", "drift")
	// Terraform then updates the session (its limits show the drift) and applies again.
	if _, err := b.UpdateSession(testCtx(t, 30*time.Second), id, spec); err != nil {
		t.Fatal(err)
	}
	if inv, err = b.ApplyConfig(testCtx(t, time.Minute), id, &workshop.Config{ID: applyID, Type: workshop.ConfigCompose, Content: one}, read); err != nil {
		t.Fatal(err)
	}
	wantContains(t, objectNames(inv), "container:"+ws+"-cache:running", "re-applied")

	// A failing apply leaves nothing of its own behind.
	bad := "services:\n  broken:\n    image: nalabo-test/shell:1\n    command: [\"sh\", \"-c\", \"exit 3\"]\n    restart: always\n"
	if _, err := b.ApplyConfig(testCtx(t, time.Minute), id, &workshop.Config{ID: "bad00001", Type: workshop.ConfigCompose, Content: bad}, nil); err == nil {
		t.Fatal("failing service accepted")
	}
	if n, _ := b.readInventory(testCtx(t, 10*time.Second), id, "bad00001", "", nil); len(n.Objects) != 0 {
		t.Fatalf("failed apply left %s", objectNames(n))
	}

	// dockerfile with run.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	df := "FROM nalabo-test/shell:1\nCOPY hello.txt /hello.txt\nCMD [\"sleep\", \"infinity\"]\n"
	dinv, err := b.ApplyConfig(testCtx(t, 2*time.Minute), id, &workshop.Config{ID: "d0c0f11e", Type: workshop.ConfigDockerfile, Content: df, ContextDir: dir, Run: true, ServiceName: "tool"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dinv.Image != ApplyImageTag(id, "d0c0f11e") {
		t.Fatalf("image = %s", dinv.Image)
	}
	r, err := b.Exec(testCtx(t, 10*time.Second), id, &workshop.ExecRequest{Container: "tool", Command: []string{"cat", "/hello.txt"}})
	if err != nil || !strings.Contains(r.Stdout, "hello from the context") {
		t.Fatalf("tool: %v %+v", err, r)
	}

	// yaml is refused on Docker.
	_, err = b.ApplyConfig(testCtx(t, 10*time.Second), id, &workshop.Config{ID: "0a0a0a0a", Type: workshop.ConfigYAML, Content: "apiVersion: v1\nkind: ConfigMap\n"}, nil)
	var fe *workshop.FieldError
	if !errors.As(err, &fe) || fe.Path != "type" {
		t.Fatalf("yaml on docker: %v", err)
	}

	// Delete removes the apply's objects and nothing else.
	if err := b.DeleteConfig(testCtx(t, 30*time.Second), id, inv); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.readInventory(testCtx(t, 10*time.Second), id, applyID, "", nil); len(n.Objects) != 0 {
		t.Fatalf("delete left %s", objectNames(n))
	}
	s, err = b.GetSession(testCtx(t, 10*time.Second), id)
	if err != nil || s.Status != workshop.StatusRunning {
		t.Fatalf("session after delete: %v %+v", err, s)
	}
	if s.Resources.CPU != "500m" || s.Resources.Memory != "256Mi" {
		t.Fatalf("budget after delete: %+v (containers %v)", s.Resources, s.Containers)
	}
	// The session's delete removes the dockerfile apply's image and container too
	// (deleteAndCheck in cleanup checks nothing is left).
}
