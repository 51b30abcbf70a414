package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// The cohort tests reproduce what one HCP Terraform workspace per cohort does: every
// run in a new directory, and several states declaring the same template.

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// moveTo moves the working directory (configuration, state, files) to dst, as a new
// HCP Terraform run or an instructor's `mv` does; the old directory is gone.
func (r *tfRun) moveTo(dst string) {
	r.t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(r.dir, dst); err != nil {
		r.t.Fatal(err)
	}
	r.dir = dst
	for i, e := range r.env {
		if strings.HasPrefix(e, "TF_CLI_CONFIG_FILE=") {
			r.env[i] = "TF_CLI_CONFIG_FILE=" + filepath.Join(dst, "dev.tfrc")
		}
	}
}

// planChanges runs `terraform plan` and returns the planned actions of every resource
// that changes (address -> "update", "create", "delete", "delete,create"...).
func (r *tfRun) planChanges() map[string]string {
	r.t.Helper()
	out, err := r.command("plan", "-out=tfplan").CombinedOutput()
	if err != nil {
		r.t.Fatalf("terraform plan: %v\n%s", err, tail(string(out), 4000))
	}
	cmd := exec.Command(r.tf, "show", "-json", "tfplan")
	cmd.Dir, cmd.Env = r.dir, r.env
	raw, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("terraform show: %v", err)
	}
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal(raw, &plan); err != nil {
		r.t.Fatal(err)
	}
	changes := map[string]string{}
	for _, rc := range plan.ResourceChanges {
		a := strings.Join(rc.Change.Actions, ",")
		if a != "no-op" && a != "read" {
			changes[rc.Address] = a
		}
	}
	return changes
}

// stateAttrs returns an attribute of every instance of a resource type in the state.
func (r *tfRun) stateAttrs(typ, attr string) []string {
	r.t.Helper()
	raw, err := os.ReadFile(filepath.Join(r.dir, "terraform.tfstate"))
	if err != nil {
		r.t.Fatal(err)
	}
	var st struct {
		Resources []struct {
			Type      string `json:"type"`
			Instances []struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, res := range st.Resources {
		if res.Type != typ {
			continue
		}
		for _, in := range res.Instances {
			out = append(out, fmt.Sprint(in.Attributes[attr]))
		}
	}
	sort.Strings(out)
	return out
}

// containerIDs maps each workspace container of a template to its Docker ID: a
// re-created session has a new one.
func containerIDs(t *testing.T, templateName string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ids := range workspaces(t, templateName) {
		for _, sid := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			c, err := acctest.Client(t).ContainerInspect(ctx, workshop.SessionObjectName(sid))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			out[sid] = c.ID
		}
	}
	return out
}

func requireDockerAcc(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" || os.Getenv("NALABO_DOCKER_TESTS") == "" {
		t.Skip("acceptance test: set TF_ACC=1 and NALABO_DOCKER_TESTS=1")
	}
	acctest.PreCheck(t)
}

// movedConfig is a class whose template reads a build context and a Compose
// directory, and a nalabo_apply with a context, every path written with wrap (the
// identity, or abspath).
func movedConfig(name string, wrap func(string) string) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {}

resource "nalabo_workshop_template" "t" {
  name                = %[1]q
  infrastructure_type = "docker"
  workspace {
    build {
      context = %[2]s
    }
    command = ["sleep", "infinity"]
  }
  compose           = <<-EOT
    services:
      app:
        build: ./app
        command: ["sleep", "infinity"]
        mem_limit: 16m
  EOT
  compose_directory = %[3]s
  resources         = { cpu = "200m", memory = "64Mi" }
}

resource "nalabo_workshop_session" "s" {
  for_each    = toset(["ada", "bob"])
  template_id = nalabo_workshop_template.t.id
  participant = each.key
}

resource "nalabo_apply" "extra" {
  session_id    = nalabo_workshop_session.s["ada"].id
  type          = "dockerfile"
  configuration = file("${path.module}/extra/Dockerfile")
  context       = %[4]s
}
`, name, wrap(`"${path.module}/ctx"`), wrap(`path.module`), wrap(`"${path.module}/extra"`))
}

func movedFiles() map[string]string {
	from := "FROM " + acctest.ShellImage1 + "\n"
	return map[string]string{
		"ctx/Dockerfile":    from + "COPY hello.txt /hello.txt\n",
		"ctx/hello.txt":     "hello\n",
		"ctx/.dockerignore": "notes.md\n",
		"ctx/notes.md":      "not sent to the builder\n",
		"app/Dockerfile":    from + "RUN echo built > /BUILT\n",
		"extra/Dockerfile":  from + "COPY extra.txt /extra.txt\n",
		"extra/extra.txt":   "extra\n",
	}
}

// TestAccCohortMovedConfiguration: a configuration and its state moved to another
// directory (every HCP Terraform run is a new one) keep every session. With relative
// paths (path.module) the plan is empty; with abspath() the paths change, so the
// template and the apply are updated in place, and no session is replaced. Positive
// control: a changed file of the build context replaces the sessions; a change to a
// file .dockerignore excludes does not.
func TestAccCohortMovedConfiguration(t *testing.T) {
	requireDockerAcc(t)
	bin := buildProvider(t)
	name := acctest.RandName("moved")
	same := func(s string) string { return s }
	abs := func(s string) string { return "abspath(" + s + ")" }

	run := newTFRun(t, bin, movedConfig(name, same))
	writeFiles(t, run.dir, movedFiles())
	t.Cleanup(func() {
		_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
	})
	run.run("apply", "-auto-approve")
	before := containerIDs(t, name)
	if len(before) != 2 {
		t.Fatalf("want 2 sessions, got %v", before)
	}
	templateID := run.stateAttrs("nalabo_workshop_template", "id")

	// 1. Relative paths, moved: nothing to do.
	run.moveTo(filepath.Join(t.TempDir(), "runs", "run-2", "config"))
	if ch := run.planChanges(); len(ch) != 0 {
		t.Fatalf("relative paths, moved configuration: the plan changes %v, want no changes", ch)
	}

	// 2. abspath(): switching to it, then moving, updates in place only.
	writeFiles(t, run.dir, map[string]string{"main.tf": movedConfig(name, abs)})
	checkInPlace := func(step string) {
		t.Helper()
		ch := run.planChanges()
		for addr, a := range ch {
			if a != "update" {
				t.Fatalf("%s: %s would be %s (all changes: %v); only in-place updates are expected", step, addr, a, ch)
			}
		}
		if ch["nalabo_workshop_template.t"] != "update" {
			t.Fatalf("%s: the template's paths changed, yet the plan is %v", step, ch)
		}
	}
	checkInPlace("relative to abspath")
	run.run("apply", "-auto-approve")
	run.moveTo(filepath.Join(t.TempDir(), "runs", "run-3", "config"))
	checkInPlace("abspath, moved")
	run.run("apply", "-auto-approve")
	if got := run.stateAttrs("nalabo_workshop_template", "id"); fmt.Sprint(got) != fmt.Sprint(templateID) {
		t.Fatalf("the template ID changed from %v to %v", templateID, got)
	}
	if after := containerIDs(t, name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("sessions were re-created: %v, then %v", before, after)
	}
	if ch := run.planChanges(); len(ch) != 0 {
		t.Fatalf("after the in-place update, the plan still changes %v", ch)
	}

	// 3. A file .dockerignore excludes is not part of the digest...
	writeFiles(t, run.dir, map[string]string{"ctx/notes.md": "edited\n"})
	if ch := run.planChanges(); len(ch) != 0 {
		t.Fatalf("an ignored file changed the plan: %v", ch)
	}
	// ...and a sent one is (positive control: the test sees a replacement when there is one).
	writeFiles(t, run.dir, map[string]string{"ctx/hello.txt": "hello again\n"})
	ch := run.planChanges()
	for _, k := range []string{`nalabo_workshop_session.s["ada"]`, `nalabo_workshop_session.s["bob"]`} {
		if ch[k] != "delete,create" && ch[k] != "create,delete" {
			t.Fatalf("a changed build context file does not replace %s: %v", k, ch)
		}
	}
	run.run("destroy", "-auto-approve")
	if c := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); c.Total() != 0 {
		t.Fatalf("left after destroy: %s", c)
	}
}

// cohortConfig is one cohort: a template every cohort of the course declares the
// same way (in copies tpl names: two identical resources), and a session per copy for
// the same participant name.
func cohortConfig(provider, template string, copies ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "terraform {\n  required_providers {\n    nalabo = { source = \"nalabo/nalabo\" }\n  }\n}\n%s\n", provider)
	for _, c := range copies {
		fmt.Fprintf(&b, "resource \"nalabo_workshop_template\" %q {\n%s}\n\n", c, template)
		fmt.Fprintf(&b, "resource \"nalabo_workshop_session\" %q {\n  template_id = nalabo_workshop_template.%s.id\n  participant = \"ada\"\n}\n\n", c, c)
	}
	return b.String()
}

func dockerCohortTemplate(name string) string {
	return fmt.Sprintf(`  name                = %q
  infrastructure_type = "docker"
  workspace {
    build {
      context = "${path.module}/ctx"
    }
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "100m", memory = "32Mi" }
`, name)
}

// templateCopies counts the stored copies of a template name on Docker.
func dockerTemplateCopies(t *testing.T, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := acctest.Client(t).VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", workshop.LabelRole+"="+workshop.RoleTemplate),
		filters.Arg("label", workshop.LabelTemplate+"="+name))})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Volumes)
}

// TestAccCohortsShareTemplateDocker: two cohorts (two states, two directories) declare
// the same template and the same participant name. Each owns its copy; destroying one
// cohort, in either order, leaves the other's plan empty and its session running; the
// built image they share goes with the last copy. Two identical template resources in
// one configuration are independent too.
func TestAccCohortsShareTemplateDocker(t *testing.T) {
	requireDockerAcc(t)
	bin := buildProvider(t)
	name := acctest.RandName("cohort")
	files := map[string]string{"ctx/Dockerfile": "FROM " + acctest.ShellImage1 + "\nRUN echo course > /COURSE\n"}
	config := cohortConfig(`provider "nalabo" {}`, dockerCohortTemplate(name), "t")
	a, b := newTFRun(t, bin, config), newTFRun(t, bin, config)
	writeFiles(t, a.dir, files)
	writeFiles(t, b.dir, files)
	t.Cleanup(func() {
		for _, r := range []*tfRun{a, b} {
			_, _ = r.command("destroy", "-auto-approve").CombinedOutput()
		}
	})
	image := func() int { return acctest.CountLabelled(t, workshop.LabelTemplate+"="+name).Images }

	a.run("apply", "-auto-approve")
	b.run("apply", "-auto-approve")
	ida, idb := a.stateAttrs("nalabo_workshop_template", "id"), b.stateAttrs("nalabo_workshop_template", "id")
	if ida[0] == idb[0] {
		t.Fatalf("two states share the template ID %s", ida[0])
	}
	if da, db := a.stateAttrs("nalabo_workshop_template", "digest"), b.stateAttrs("nalabo_workshop_template", "digest"); da[0] != db[0] {
		t.Fatalf("the same template content has two digests: %s, %s", da[0], db[0])
	}
	if n := dockerTemplateCopies(t, name); n != 2 {
		t.Fatalf("want 2 stored copies of the template, got %d", n)
	}
	if n := len(workspaces(t, name)["ada"]); n != 2 {
		t.Fatalf("want one session of ada per cohort (2), got %d: a cohort adopted the other's", n)
	}
	if image() != 1 {
		t.Fatalf("want the built image once, got %d", image())
	}
	sessB := b.stateAttrs("nalabo_workshop_session", "id")

	// Cohort A ends first.
	a.run("destroy", "-auto-approve")
	if ch := b.planChanges(); len(ch) != 0 {
		t.Fatalf("after cohort A's destroy, cohort B's plan changes %v", ch)
	}
	if got := workspaces(t, name)["ada"]; len(got) != 1 || got[0] != sessB[0] {
		t.Fatalf("cohort B's session: want %v running, got %v", sessB, got)
	}
	if out, code, err := execIn(t, workshop.SessionObjectName(sessB[0]), "cat", "/COURSE"); err != nil || code != 0 || out != "course\n" {
		t.Fatalf("cohort B's session after A's destroy: %q exit %d %v", out, code, err)
	}
	if dockerTemplateCopies(t, name) != 1 || image() != 1 {
		t.Fatalf("after A's destroy: %d copies, %d images; want 1 and 1", dockerTemplateCopies(t, name), image())
	}

	// The other order: A comes back, B ends.
	a.run("apply", "-auto-approve")
	b.run("destroy", "-auto-approve")
	if ch := a.planChanges(); len(ch) != 0 {
		t.Fatalf("after cohort B's destroy, cohort A's plan changes %v", ch)
	}
	a.run("destroy", "-auto-approve")
	if c := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); c.Total() != 0 {
		t.Fatalf("after both cohorts' destroy, left: %s", c)
	}

	// Two identical template resources in one configuration.
	c := newTFRun(t, bin, cohortConfig(`provider "nalabo" {}`, dockerCohortTemplate(name), "t1", "t2"))
	writeFiles(t, c.dir, files)
	t.Cleanup(func() { _, _ = c.command("destroy", "-auto-approve").CombinedOutput() })
	c.run("apply", "-auto-approve")
	c.run("destroy", "-auto-approve", "-target=nalabo_workshop_template.t1")
	ch := c.planChanges()
	if ch["nalabo_workshop_template.t2"] != "" || ch["nalabo_workshop_session.t2"] != "" ||
		ch["nalabo_workshop_template.t1"] != "create" || ch["nalabo_workshop_session.t1"] != "create" {
		t.Fatalf("after destroying t1 only, want t1 and its session to create and nothing else, got %v", ch)
	}
	c.run("destroy", "-auto-approve")
	if c := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); c.Total() != 0 {
		t.Fatalf("left: %s", c)
	}
}

// TestAccCohortsShareTemplateKubernetes: the same for two cohorts on Kubernetes
// (namespace isolation): each state owns its template ConfigMap.
func TestAccCohortsShareTemplateKubernetes(t *testing.T) {
	requireDockerAcc(t)
	kc := k8sKubeconfig(t)
	cs := k8sAdmin(t)
	bin := buildProvider(t)
	name := acctest.RandName("kcohort")
	tpl := fmt.Sprintf(`  name                = %q
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "250m", memory = "128Mi", storage = "1Gi" }
`, name)
	config := cohortConfig(k8sProviderConfig(kc), tpl, "t")
	a, b := newTFRun(t, bin, config), newTFRun(t, bin, config)
	t.Cleanup(func() {
		for _, r := range []*tfRun{a, b} {
			_, _ = r.command("destroy", "-auto-approve").CombinedOutput()
		}
	})
	copies := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		list, err := cs.CoreV1().ConfigMaps("nalabo-acc").List(ctx, metav1.ListOptions{
			LabelSelector: workshop.LabelRole + "=" + workshop.RoleTemplate + "," + workshop.LabelTemplate + "=" + name})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}
	sessionRunning := func(id string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ns, err := cs.CoreV1().Namespaces().Get(ctx, workshop.SessionObjectName(id), metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ns.DeletionTimestamp != nil {
			return errors.New("namespace is being deleted")
		}
		return nil
	}

	a.run("apply", "-auto-approve")
	b.run("apply", "-auto-approve")
	if ida, idb := a.stateAttrs("nalabo_workshop_template", "id"), b.stateAttrs("nalabo_workshop_template", "id"); ida[0] == idb[0] {
		t.Fatalf("two states share the template ID %s", ida[0])
	}
	if copies() != 2 {
		t.Fatalf("want 2 template ConfigMaps, got %d", copies())
	}
	sessB := b.stateAttrs("nalabo_workshop_session", "id")
	a.run("destroy", "-auto-approve")
	if ch := b.planChanges(); len(ch) != 0 {
		t.Fatalf("after cohort A's destroy, cohort B's plan changes %v", ch)
	}
	if err := sessionRunning(sessB[0]); err != nil {
		t.Fatalf("cohort B's session after A's destroy: %v", err)
	}
	if copies() != 1 {
		t.Fatalf("after A's destroy, want 1 template ConfigMap, got %d", copies())
	}
	a.run("apply", "-auto-approve")
	b.run("destroy", "-auto-approve")
	if ch := a.planChanges(); len(ch) != 0 {
		t.Fatalf("after cohort B's destroy, cohort A's plan changes %v", ch)
	}
	a.run("destroy", "-auto-approve")
	if copies() != 0 {
		t.Fatalf("after both cohorts' destroy, %d template ConfigMaps are left", copies())
	}
}

// TestAccInterruptedApplyTemplateOrphan: Terraform killed right after the template's
// create, before it saved any state. The plugin marks the copy it created as orphaned;
// the re-apply adopts that copy (same ID) instead of creating a second one, so nothing
// is left after destroy. (Sessions complete at the kill are adopted through the
// adopted copy's ID: TestAccInterruptedApplyDocker.)
func TestAccInterruptedApplyTemplateOrphan(t *testing.T) {
	requireDockerAcc(t)
	bin := buildProvider(t)
	name := acctest.RandName("orph")
	run := newTFRun(t, bin, classConfigN(name, acctest.RandName("p"), 3, ""))
	t.Cleanup(func() {
		if t.Failed() {
			_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
			reconcileOnce(t, bin, name, "--grace=0s", "--remnant-grace=0s")
		}
	})
	cmd := run.command("apply", "-auto-approve")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for dockerTemplateCopies(t, name) == 0 {
		select {
		case err := <-done:
			t.Fatalf("the apply ended before the template was stored: %v\n%s", err, tail(out.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no template copy after 2 minutes\n%s", tail(out.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done //nolint:errcheck // killed: the exit error is expected
	waitPluginGone(t, bin, 5*time.Minute)
	if ids := run.stateAttrsOrNone("nalabo_workshop_template", "id"); len(ids) != 0 {
		// Terraform saves its state at the first resource, then every 20 s: here it
		// saved the template before the kill. Drop it, as a state saved a moment
		// earlier (or a kill during the template's create) would not have it.
		cmd := exec.Command(run.tf, "state", "rm", "nalabo_workshop_template.t")
		cmd.Dir, cmd.Env = run.dir, run.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("terraform state rm: %v\n%s", err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	marks, err := acctest.Client(t).VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", workshop.LabelRole+"="+workshop.RoleOrphanMark),
		filters.Arg("label", workshop.LabelTemplate+"="+name))})
	if err != nil || len(marks.Volumes) != 1 {
		t.Fatalf("want the killed apply's template copy marked orphaned (1 mark), got %v %v", marks, err)
	}
	orphan := marks.Volumes[0].Labels[workshop.LabelTemplateID]

	run.run("apply", "-auto-approve")
	if ids := run.stateAttrs("nalabo_workshop_template", "id"); len(ids) != 1 || ids[0] != orphan {
		t.Fatalf("the re-apply did not adopt the orphaned copy %s: state has %v", orphan, ids)
	}
	if n := dockerTemplateCopies(t, name); n != 1 {
		t.Fatalf("want 1 template copy after the re-apply, got %d", n)
	}
	if c := acctest.CountLabelled(t, workshop.LabelRole+"="+workshop.RoleOrphanMark, workshop.LabelTemplate+"="+name); c.Volumes != 0 {
		t.Fatalf("the orphan mark is still there after the adoption: %s", c)
	}
	run.run("destroy", "-auto-approve")
	if c := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); c.Total() != 0 {
		t.Fatalf("left after destroy: %s", c)
	}
}

// stateAttrsOrNone is stateAttrs, empty when there is no state file yet.
func (r *tfRun) stateAttrsOrNone(typ, attr string) []string {
	r.t.Helper()
	if fi, err := os.Stat(filepath.Join(r.dir, "terraform.tfstate")); err != nil || fi.Size() == 0 {
		return nil
	}
	return r.stateAttrs(typ, attr)
}
