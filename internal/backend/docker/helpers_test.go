package docker

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Integration tests talk to the real dockerd. They run when NALABO_DOCKER_TESTS=1 or
// TF_ACC=1 and need the images of scripts/build-test-images.sh.

const (
	imageShell1  = "nalabo-test/shell:1"
	imageShell2  = "nalabo-test/shell:2"
	imageHealthy = "nalabo-test/healthy:1"
	// Sessions of these tests use their own pool and network prefix, so they never
	// compete with acceptance tests running against the same daemon.
	testPool          = "10.219.0.0/16"
	testNetworkPrefix = "nalabo-dtest-network"
)

func integration(t *testing.T) {
	t.Helper()
	if os.Getenv("NALABO_DOCKER_TESTS") != "1" && os.Getenv("TF_ACC") != "1" {
		t.Skip("integration test against the Docker daemon: set NALABO_DOCKER_TESTS=1 (or TF_ACC=1) to run it")
	}
}

// newTestBackend returns a backend on the local daemon, checking it answers and has the
// test images.
func newTestBackend(t *testing.T) *Backend {
	t.Helper()
	integration(t)
	b, err := New(Config{Host: os.Getenv("DOCKER_HOST"), SubnetPool: testPool, NetworkPrefix: testNetworkPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Ping(ctx); err != nil {
		t.Fatalf("docker daemon: %v", err)
	}
	for _, ref := range []string{imageShell1, imageShell2, imageHealthy} {
		if _, err := b.cli.ImageInspect(ctx, ref); err != nil {
			t.Fatalf("test image %s missing (run scripts/build-test-images.sh): %v", ref, err)
		}
	}
	return b
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// applyTemplate applies a docker template with image ref (or the given one).
func applyTemplate(t *testing.T, b *Backend, tpl *workshop.Template) *workshop.Template {
	t.Helper()
	if tpl.Infrastructure == "" {
		tpl.Infrastructure = workshop.InfraDocker
	}
	out, err := b.ApplyTemplate(testCtx(t, 2*time.Minute), tpl)
	if err != nil {
		t.Fatalf("apply template %s: %v", tpl.Name, err)
	}
	t.Cleanup(func() {
		if err := b.DeleteTemplate(context.Background(), out.ID); err != nil {
			t.Errorf("delete template %s: %v", out.ID, err)
		}
	})
	return out
}

// newSpec returns a session spec for a sealed template.
func newSpec(tpl *workshop.Template, participant string) *workshop.SessionSpec {
	now := time.Now().UTC().Truncate(time.Second)
	return &workshop.SessionSpec{
		ID:          workshop.NewSessionID(),
		Template:    tpl,
		Participant: participant,
		Resources:   workshop.Resources{CPU: "500m", Memory: "256Mi", Storage: "1Gi"},
		CreatedAt:   now,
		Duration:    4 * time.Hour,
		ExpiresAt:   now.Add(4 * time.Hour),
	}
}

// createSession creates a session and deletes it when the test ends.
func createSession(t *testing.T, b *Backend, spec *workshop.SessionSpec) *workshop.Session {
	t.Helper()
	t.Cleanup(func() { deleteAndCheck(t, b, spec.ID) })
	start := time.Now()
	s, err := b.CreateSession(testCtx(t, time.Minute), spec)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	t.Logf("session %s (%s) created in %s", spec.ID, spec.Participant, time.Since(start).Round(time.Millisecond))
	return s
}

// deleteAndCheck deletes a session and checks nothing labelled with it is left.
func deleteAndCheck(t *testing.T, b *Backend, id string) {
	t.Helper()
	ctx := testCtx(t, time.Minute)
	start := time.Now()
	if err := b.DeleteSession(ctx, id); err != nil {
		t.Errorf("delete session %s: %v", id, err)
	}
	t.Logf("session %s deleted in %s", id, time.Since(start).Round(time.Millisecond))
	if left := leftovers(t, b, id); len(left) > 0 {
		t.Errorf("session %s left objects behind: %v", id, left)
	}
}

// leftovers lists every container, network, volume and image labelled with session id.
func leftovers(t *testing.T, b *Backend, id string) []string {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	f := labelFilters(workshop.LabelSession + "=" + id)
	var out []string
	ctrs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ctrs {
		out = append(out, "container "+containerName(c))
	}
	nets, err := b.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		out = append(out, "network "+n.Name)
	}
	vols, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vols.Volumes {
		out = append(out, "volume "+v.Name)
	}
	imgs, err := b.cli.ImageList(ctx, image.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		out = append(out, "image "+i.ID)
	}
	return out
}

// exec runs a shell script in the session's workspace and fails the test on error.
func exec(t *testing.T, b *Backend, id, script string) *workshop.ExecResult {
	t.Helper()
	res, err := b.Exec(testCtx(t, time.Minute), id, &workshop.ExecRequest{Command: []string{"sh", "-c", script}})
	if err != nil {
		t.Fatalf("exec %q: %v", script, err)
	}
	return res
}

func wantNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, workshop.ErrNotFound) {
		t.Fatalf("%s: err = %v, want one wrapping ErrNotFound", what, err)
	}
}

func wantContains(t *testing.T, got, want, what string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q does not contain %q", what, got, want)
	}
}
