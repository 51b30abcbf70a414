package docker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const socketMountCompose = `
services:
  tool:
    image: nalabo-test/shell:1
    command: ["sleep", "infinity"]
    volumes: ["./docker.sock:/var/run/docker.sock"]
`

// TestHostPathsRefusedByBackend: the backend refuses host paths when called directly
// (no provider in front): a declared directory that is "/" or /var/run, a directory
// holding the configured daemon's socket, and a bind-mount source that became a
// symlink to the socket after the template was applied (checked again at session
// create). Positive control: a file of the declared directory is mounted and readable.
func TestHostPathsRefusedByBackend(t *testing.T) {
	b := newTestBackend(t)
	name := "dtest-paths-" + workshop.NewSessionID()[:6]

	// compose_directory "/" with the socket mounted: refused, naming both.
	_, err := b.ApplyTemplate(testCtx(t, time.Minute), &workshop.Template{
		Name: name + "-root", Infrastructure: workshop.InfraDocker, Workspace: workshop.Workspace{Image: imageShell1},
		Compose: socketMountCompose, ComposeDir: "/",
	})
	if err == nil || !strings.Contains(err.Error(), "compose_directory") || !strings.Contains(err.Error(), "/ is refused") {
		t.Fatalf("compose_directory /: %v", err)
	}
	t.Logf("compose_directory /: %v", err)

	// The configured daemon's own socket: a backend whose docker.host is a socket in a
	// directory of its own refuses that directory (the default policy cannot know it).
	sockDir := t.TempDir()
	if err := os.Symlink("/var/run/docker.sock", filepath.Join(sockDir, "docker.sock")); err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Host: "unix://" + filepath.Join(sockDir, "docker.sock"), SubnetPool: testPool, NetworkPrefix: testNetworkPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ApplyTemplate(testCtx(t, time.Minute), &workshop.Template{
		Name: name + "-sock", Infrastructure: workshop.InfraDocker, Workspace: workshop.Workspace{Image: imageShell1},
		Compose: "services:\n  tool:\n    image: nalabo-test/shell:1\n", ComposeDir: sockDir,
	})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(sockDir, "docker.sock")) {
		t.Fatalf("directory holding the daemon's socket: %v", err)
	}
	t.Logf("socket directory: %v", err)

	// Positive control: a file of the declared directory is mounted and readable.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("workshop data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl := applyTemplate(t, b, &workshop.Template{
		Name: name, Workspace: workshop.Workspace{Image: imageShell1},
		Compose:    "services:\n  tool:\n    image: nalabo-test/shell:1\n    command: [sleep, infinity]\n    volumes: ['./data.txt:/data.txt:ro']\n",
		ComposeDir: dir, Resources: workshop.Resources{CPU: "300m", Memory: "128Mi"},
	})
	spec := newSpec(tpl, "ada")
	spec.Resources = workshop.Resources{CPU: "300m", Memory: "128Mi", Storage: "1Gi"}
	createSession(t, b, spec)
	res, err := b.Exec(testCtx(t, time.Minute), spec.ID, &workshop.ExecRequest{Container: "tool", Command: []string{"cat", "/data.txt"}})
	if err != nil || res.ExitCode != 0 || res.Stdout != "workshop data\n" {
		t.Fatalf("positive control: the bind-mounted file: %v %+v", err, res)
	}

	// The file becomes a symlink to the socket after the template was applied: the next
	// session's create checks again and refuses.
	if err := os.Remove(filepath.Join(dir, "data.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/var/run/docker.sock", filepath.Join(dir, "data.txt")); err != nil {
		t.Fatal(err)
	}
	spec2 := newSpec(tpl, "bob")
	spec2.Resources = spec.Resources
	t.Cleanup(func() { _ = b.DeleteSession(testCtx(t, time.Minute), spec2.ID) })
	_, err = b.CreateSession(testCtx(t, time.Minute), spec2)
	if err == nil || !strings.Contains(err.Error(), "docker.sock") || !strings.Contains(err.Error(), "data.txt") {
		t.Fatalf("bind-mount source swapped for a symlink to the socket: %v", err)
	}
	t.Logf("swapped symlink: %v", err)
	if left := leftovers(t, b, spec2.ID); len(left) > 0 {
		t.Fatalf("refused create left objects: %v", left)
	}

	// nalabo_apply context /var/run: refused, for compose and dockerfile.
	for _, typ := range []string{workshop.ConfigCompose, workshop.ConfigDockerfile} {
		content := "services:\n  tool:\n    image: nalabo-test/shell:1\n    volumes: ['./docker.sock:/s']\n"
		if typ == workshop.ConfigDockerfile {
			content = "FROM nalabo-test/shell:1\nCOPY docker.sock /s\n"
		}
		_, err := b.ApplyConfig(testCtx(t, time.Minute), spec.ID, &workshop.Config{ID: "0123456789abcdef", Type: typ, Content: content, ContextDir: "/var/run"}, nil)
		if err == nil || !strings.Contains(err.Error(), "context") || !strings.Contains(err.Error(), "/var/run") {
			t.Fatalf("apply %s with context /var/run: %v", typ, err)
		}
	}
}

// TestHostCapacityRefused: memory or CPU beyond the host is refused with the host's
// figure, at session create and update; a limit that fits (positive control) is not.
func TestHostCapacityRefused(t *testing.T) {
	b := newTestBackend(t)
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-capacity", Workspace: workshop.Workspace{Image: imageShell1}})
	facts, err := b.daemonFacts(testCtx(t, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	spec := newSpec(tpl, "ada")
	spec.Resources.Memory = "100Ti"
	_, err = b.CreateSession(testCtx(t, time.Minute), spec)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("MemTotal %.1fGi = %d bytes", float64(facts.memTotal)/(1<<30), facts.memTotal)) {
		t.Fatalf("memory 100Ti: %v", err)
	}
	t.Logf("memory 100Ti: %v", err)
	spec = newSpec(tpl, "ada")
	spec.Resources.CPU = "1000"
	if _, err = b.CreateSession(testCtx(t, time.Minute), spec); err == nil || !strings.Contains(err.Error(), "CPUs") {
		t.Fatalf("cpu 1000: %v", err)
	}
	spec = newSpec(tpl, "ada")
	createSession(t, b, spec)
	up := *spec
	up.Resources.Memory = "100Ti"
	if _, err := b.UpdateSession(testCtx(t, time.Minute), spec.ID, &up); err == nil || !strings.Contains(err.Error(), "MemTotal") {
		t.Fatalf("update to memory 100Ti: %v", err)
	}
	_, err = b.ApplyTemplate(testCtx(t, time.Minute), &workshop.Template{Name: "dtest-capacity2", Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: imageShell1}, Resources: workshop.Resources{Memory: "100Ti"}})
	if err == nil || !strings.Contains(err.Error(), "MemTotal") {
		t.Fatalf("template memory 100Ti: %v", err)
	}
}
