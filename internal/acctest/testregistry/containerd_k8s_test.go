package testregistry

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testClusterContainerd is the test cluster's containerd socket (scripts/testcluster-up.sh).
const testClusterContainerd = "/run/nalabo-testcluster/containerd/containerd.sock"

// TestK8sContainerdPullsOverTLS: the hosts.toml Start writes makes the test cluster's
// containerd (its resolver, the one the CRI uses with config_path) pull over TLS with
// the test CA and the registry's login: `ctr images pull --hosts-dir`. Controls: a
// wrong password is refused (401), and the same hosts.toml without the CA fails the TLS
// verification.
func TestK8sContainerdPullsOverTLS(t *testing.T) {
	if os.Getenv("NALABO_K8S_KUBECONFIG") == "" {
		t.Skip("NALABO_K8S_KUBECONFIG is not set (start the test cluster: make testcluster)")
	}
	if _, err := os.Stat(testClusterContainerd); err != nil {
		t.Skipf("no test cluster containerd: %v", err)
	}
	r := Start(t, "erin", "right-password")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := r.Host + "/ctr/random:1"
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: r.Username, Password: r.Password}), remote.WithTransport(r.Transport())); err != nil {
		t.Fatal(err)
	}
	const ns = "nalabo-registry-test"
	pull := func(hostsDir, login string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ctr", "-a", testClusterContainerd, "-n", ns, "images", "pull",
			"--hosts-dir", hostsDir, "--user", login, ref).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		_ = exec.Command("ctr", "-a", testClusterContainerd, "-n", ns, "images", "rm", "--sync", ref).Run()
	})
	if out, err := pull(CertsDir, "erin:wrong-password"); err == nil || !strings.Contains(out, "401") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	noCA := t.TempDir()
	hosts, err := os.ReadFile(filepath.Join(CertsDir, r.Host, "hosts.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(hosts), "\n") {
		if !strings.Contains(l, "ca = ") {
			kept = append(kept, l)
		}
	}
	if err := os.MkdirAll(filepath.Join(noCA, r.Host), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(noCA, r.Host, "hosts.toml"), []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := pull(noCA, "erin:right-password"); err == nil || !strings.Contains(out, "certificate") {
		t.Fatalf("without the CA: %v\n%s", err, out)
	}
	plainBefore := r.Plain()
	if out, err := pull(CertsDir, "erin:right-password"); err != nil {
		t.Fatalf("right password: %v\n%s", err, out)
	}
	if r.Plain() != plainBefore {
		t.Fatalf("%d requests without TLS", r.Plain()-plainBefore)
	}
}
