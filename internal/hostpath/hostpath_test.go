package hostpath

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRefusesSystemPaths(t *testing.T) {
	p := New("/srv/docker/docker.sock")
	for _, bad := range []string{"/", "/var", "/var/run", "/var/run/docker.sock", "/run/docker.sock", "/etc/passwd",
		"/proc/1/root", "/var/lib", "/var/lib/docker/volumes", "/usr/local/bin", "/root", "/home", "/tmp", "/srv/docker",
		"/srv/docker/docker.sock", "/home/alice/.ssh/id_ed25519", "/sys/../etc"} {
		if err := p.Check(bad); err == nil {
			t.Errorf("Check(%q) accepted a host system path", bad)
		} else if !strings.Contains(err.Error(), bad) {
			t.Errorf("Check(%q) = %q, does not name the path", bad, err)
		}
	}
	// Positive control: ordinary workshop directories pass.
	for _, ok := range []string{"/home/alice/workshop", "/root/workshop/app", "/tmp/class1", "/opt/nalabo/demo", "/srv/workshops/k8s"} {
		if err := p.Check(ok); err != nil {
			t.Errorf("Check(%q) = %v, want accepted", ok, err)
		}
	}
	if err := p.Check("relative/dir"); err == nil {
		t.Error("a relative path was accepted")
	}
}

func TestCheckFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	p := Default()
	link := filepath.Join(dir, "sock")
	if err := os.Symlink("/var/run/docker.sock", link); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(link); err == nil {
		t.Fatal("a symlink to the Docker socket was accepted")
	}
	dangling := filepath.Join(dir, "later")
	if err := os.Symlink("/etc/nalabo-does-not-exist/x", dangling); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(dangling); err == nil {
		t.Fatal("a dangling symlink into /etc was accepted")
	}
	up := filepath.Join(dir, "up")
	if err := os.Symlink("/", up); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CheckInside(dir, filepath.Join(up, "var/run/docker.sock")); err == nil {
		t.Fatal("a path through a symlink to / was accepted")
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(home); err == nil {
		t.Fatal("a directory holding .ssh was accepted")
	}
	// Positive control: a regular file inside the declared directory, and a symlink
	// to another file inside it (resolved to its target).
	f := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("data.txt", filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	if got, err := p.CheckInside(dir, filepath.Join(dir, "alias")); err != nil || got != resolve(f) {
		t.Fatalf("CheckInside(alias) = %q, %v; want %q", got, err, resolve(f))
	}
	if err := p.Check(dir); err != nil {
		t.Fatalf("Check(tempdir) = %v", err)
	}
	if _, err := p.CheckInside(dir, "/etc/hosts"); err == nil || !strings.Contains(err.Error(), "outside the declared directory") {
		t.Fatalf("CheckInside outside = %v", err)
	}
}

func TestSocketPath(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///var/run/docker.sock": "/var/run/docker.sock", "tcp://127.0.0.1:2375": "", "unix:///srv/d.sock": "/srv/d.sock",
	} {
		if got := SocketPath(in); got != want {
			t.Errorf("SocketPath(%q) = %q, want %q", in, got, want)
		}
	}
}
