package docker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestApplyTemplateImage(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, time.Minute)
	tpl := func(image string) *workshop.Template {
		return &workshop.Template{Name: "dtest-image", Infrastructure: workshop.InfraDocker,
			Workspace: workshop.Workspace{Image: image, Env: map[string]string{"LANG": "C.UTF-8"}}}
	}
	in := tpl(imageShell1)
	a1 := applyTemplate(t, b, in)
	if in.ID != "" || in.Images != nil {
		t.Fatal("ApplyTemplate modified the caller's template")
	}
	a2 := applyTemplate(t, b, tpl(imageShell1))
	if a1.Digest == "" || a1.Digest != a2.Digest || a1.ID != a2.ID {
		t.Fatalf("two applies of one template: %s / %s", a1.ID, a2.ID)
	}
	if !strings.HasPrefix(a1.ID, "docker.dtest-image.") || a1.Images[imageShell1] == "" {
		t.Fatalf("sealed template: %+v", a1)
	}
	b2 := applyTemplate(t, b, tpl(imageShell2))
	if b2.Digest == a1.Digest {
		t.Fatal("shell:1 and shell:2 templates have the same digest")
	}

	got, err := b.GetTemplate(ctx, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a1.ID || got.Workspace.Image != imageShell1 || got.Workspace.Env["LANG"] != "C.UTF-8" {
		t.Fatalf("GetTemplate = %+v", got)
	}
	v, err := b.cli.VolumeInspect(ctx, "nalabo-template-dtest-image-"+a1.ID[len(a1.ID)-12:])
	if err != nil {
		t.Fatal(err)
	}
	if v.Labels[workshop.LabelRole] != workshop.RoleTemplate || v.Labels[workshop.LabelTemplateID] != a1.ID || !managedBy(v.Labels) {
		t.Fatalf("template volume labels: %v", v.Labels)
	}

	// Validations are not in the digest: same ID, the stored spec is replaced.
	withCheck := tpl(imageShell1)
	withCheck.Validations = []workshop.Validation{{Name: "version", Command: []string{"cat", "/VERSION"}}}
	a3 := applyTemplate(t, b, withCheck)
	if a3.ID != a1.ID {
		t.Fatalf("adding a validation changed the ID: %s -> %s", a1.ID, a3.ID)
	}
	got, err = b.GetTemplate(ctx, a1.ID)
	if err != nil || len(got.Validations) != 1 {
		t.Fatalf("stored validations: %+v, %v", got, err)
	}

	if err := b.DeleteTemplate(ctx, b2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.GetTemplate(ctx, b2.ID)
	wantNotFound(t, err, "GetTemplate after delete")
	if err := b.DeleteTemplate(ctx, b2.ID); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := b.cli.ImageInspect(ctx, imageShell2); err != nil {
		t.Fatalf("DeleteTemplate removed a pulled image: %v", err)
	}
	_, err = b.GetTemplate(ctx, "docker.dtest-image.000000000000")
	wantNotFound(t, err, "GetTemplate of an unknown ID")
}

func TestApplyTemplateErrors(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, time.Minute)
	// A registry on loopback that refuses: the pull fails fast, no traffic leaves.
	missing := "127.0.0.1:1/nalabo-test/missing:1"
	_, err := b.ApplyTemplate(ctx, &workshop.Template{Name: "dtest-missing", Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: missing}})
	if err == nil {
		t.Fatal("a missing image that cannot be pulled was accepted")
	}
	wantContains(t, err.Error(), missing, "missing image error")

	_, err = b.ApplyTemplate(ctx, &workshop.Template{Name: "dtest-k8s", Infrastructure: workshop.InfraKubernetes,
		Workspace: workshop.Workspace{Image: imageShell1}})
	if err == nil || !strings.Contains(err.Error(), "kubernetes") {
		t.Fatalf("kubernetes template: %v", err)
	}
	_, err = b.ApplyTemplate(ctx, &workshop.Template{Name: "Bad Name", Infrastructure: workshop.InfraDocker})
	if err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("invalid template: %v", err)
	}
}

func TestGetTemplateImageGone(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, time.Minute)
	// A throwaway tag of a test image, removed behind the backend's back.
	tag := "nalabo-test/dtest-gone:1"
	if err := b.cli.ImageTag(ctx, imageShell1, tag); err != nil {
		t.Fatal(err)
	}
	tpl := applyTemplate(t, b, &workshop.Template{Name: "dtest-gone", Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: tag}})
	if _, err := b.cli.ImageRemove(ctx, tag, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := b.GetTemplate(ctx, tpl.ID)
	wantNotFound(t, err, "GetTemplate with its image removed")
	wantContains(t, err.Error(), tag, "image gone error")
}

func TestBuildTemplate(t *testing.T) {
	b := newTestBackend(t)
	ctx := testCtx(t, 3*time.Minute)
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM "+imageShell1+"\nARG GREETING=hi\nCOPY hello.txt /hello.txt\nRUN echo \"$GREETING\" > /greeting\n")
	write("hello.txt", "hello from the build context\n")
	write("ignored.log", "should not be sent\n")
	write(".dockerignore", "*.log\n")
	tpl := &workshop.Template{Name: "dtest-build", Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Build: &workshop.Build{Context: dir, Args: map[string]string{"GREETING": "bonjour"}}}}

	start := time.Now()
	built, err := b.ApplyTemplate(ctx, tpl)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %s", time.Since(start))
	tag := built.WorkspaceImage()
	wantContains(t, tag, "nalabo/dtest-build:", "built tag")
	ins, err := b.cli.ImageInspect(ctx, tag)
	if err != nil {
		t.Fatalf("built image missing: %v", err)
	}
	l := ins.Config.Labels
	if !managedBy(l) || l[workshop.LabelRole] != workshop.RoleImage || l[workshop.LabelTemplate] != "dtest-build" {
		t.Fatalf("built image labels: %v", l)
	}
	if built.Images[tag] != ins.ID || built.Workspace.Build.ContextDigest == "" {
		t.Fatalf("template images: %v, context digest %q", built.Images, built.Workspace.Build.ContextDigest)
	}

	// Same inputs: no rebuild, same ID.
	start = time.Now()
	again, err := b.ApplyTemplate(ctx, tpl)
	if err != nil || again.ID != built.ID {
		t.Fatalf("second apply: %v, %s vs %s", err, again.ID, built.ID)
	}
	t.Logf("second apply (no build): %s", time.Since(start))

	// The image holds the copied file and the build argument, not the ignored file.
	spec := newSpec(built, "builder")
	createSession(t, b, spec)
	res := exec(t, b, spec.ID, "cat /hello.txt /greeting; ls /ignored.log 2>&1; true")
	wantContains(t, res.Stdout, "hello from the build context", "copied file")
	wantContains(t, res.Stdout, "bonjour", "build arg")
	wantContains(t, res.Stdout, "No such file", ".dockerignore")
	deleteAndCheck(t, b, spec.ID)

	if err := b.DeleteTemplate(ctx, built.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.cli.ImageInspect(ctx, tag); !isNotFound(err) {
		t.Fatalf("built image still there after DeleteTemplate: %v", err)
	}

	// A failing build surfaces the builder's message.
	write("Dockerfile", "FROM "+imageShell1+"\nRUN echo about to fail && false\n")
	_, err = b.ApplyTemplate(ctx, tpl)
	if err == nil {
		t.Fatal("failing build accepted")
	}
	wantContains(t, err.Error(), "returned a non-zero code", "build error")
	wantContains(t, err.Error(), "about to fail", "build output")

	// A missing Dockerfile is named.
	tpl.Workspace.Build.Dockerfile = "Nope.Dockerfile"
	_, err = b.ApplyTemplate(ctx, tpl)
	if err == nil || !strings.Contains(err.Error(), "Nope.Dockerfile") {
		t.Fatalf("missing Dockerfile: %v", err)
	}
	assertNoTemplateVolumes(t, b, "dtest-build")
}

func assertNoTemplateVolumes(t *testing.T, b *Backend, name string) {
	t.Helper()
	list, err := b.cli.VolumeList(testCtx(t, 10*time.Second), volume.ListOptions{Filters: labelFilters(workshop.LabelTemplate + "=" + name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Volumes) > 0 {
		t.Fatalf("template volumes of %s left: %d", name, len(list.Volumes))
	}
}
