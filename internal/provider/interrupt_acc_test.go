package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// The interrupted-apply tests drive the real Terraform CLI against a provider binary
// built here (dev_overrides), since terraform-plugin-testing cannot kill an apply.

const interruptClass = 20

// tfRun is one terraform working directory with the test's provider binary.
type tfRun struct {
	t        *testing.T
	tf       string
	dir      string
	env      []string
	provider string // the provider binary
}

// buildProvider builds the provider (CGO_ENABLED=0) into a temporary directory and
// returns the binary's path.
func buildProvider(t *testing.T) string {
	t.Helper()
	// go test runs in the package's directory (runtime.Caller would give a module path
	// under -trimpath, which the GNUmakefile sets).
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "terraform-provider-nalabo")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the provider: %v\n%s", err, out)
	}
	return bin
}

func newTFRun(t *testing.T, provider, config string) *tfRun {
	t.Helper()
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		tf = acctest.TerraformPath
	}
	dir := t.TempDir()
	rc := filepath.Join(dir, "dev.tfrc")
	tfrc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"nalabo/nalabo\" = %q\n  }\n  direct {}\n}\n", filepath.Dir(provider))
	if err := os.WriteFile(rc, []byte(tfrc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
	return &tfRun{t: t, tf: tf, dir: dir, env: env, provider: provider}
}

func (r *tfRun) command(args ...string) *exec.Cmd {
	cmd := exec.Command(r.tf, append(args, "-no-color", "-input=false")...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	// Its own process group: a Ctrl-C reaches Terraform and the plugin, as in a terminal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// run runs terraform to its end and fails the test on an error.
func (r *tfRun) run(args ...string) {
	r.t.Helper()
	start := time.Now()
	out, err := r.command(args...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 4000))
	}
	r.t.Logf("terraform %s: %s", args[0], time.Since(start).Round(100*time.Millisecond))
}

// applyUntil starts `terraform apply -auto-approve args...` and, once cond holds
// (checked every 100ms, for up to 5 minutes), interrupts it with stop (nil: SIGKILL to
// terraform, the unlucky instructor's laptop); it waits until terraform ended and the
// plugin exited, and returns how long the plugin outlived terraform. The test fails if
// the apply ends before cond holds (what says when is in the message).
func (r *tfRun) applyUntil(what string, cond func() bool, stop func(*exec.Cmd), args ...string) time.Duration {
	r.t.Helper()
	cmd := r.command(append([]string{"apply", "-auto-approve"}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		select {
		case err := <-done:
			r.t.Fatalf("the apply ended before %s: %v\n%s", what, err, tail(out.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			r.t.Fatalf("not %s after 5 minutes\n%s", what, tail(out.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stop == nil {
		stop = func(cmd *exec.Cmd) { _ = cmd.Process.Signal(syscall.SIGKILL) }
	}
	stop(cmd)
	select {
	case <-done: //nolint:errcheck // stopped: the exit error is expected
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		r.t.Fatalf("terraform did not stop\n%s", tail(out.String(), 3000))
	}
	r.t.Logf("terraform apply interrupted once %s", what)
	return waitPluginGone(r.t, r.provider, 5*time.Minute)
}

// sessionIDs reads the session IDs of the state file (none without one).
func (r *tfRun) sessionIDs() map[string]bool {
	r.t.Helper()
	ids := map[string]bool{}
	for _, id := range r.stateAttrsOrNone("nalabo_workshop_session", "id") {
		ids[id] = true
	}
	return ids
}

// templateID is the ID of the state's only template.
func (r *tfRun) templateID() string {
	r.t.Helper()
	ids := r.stateAttrsOrNone("nalabo_workshop_template", "id")
	if len(ids) != 1 {
		r.t.Fatalf("the state holds templates %v; want one", ids)
	}
	return ids[0]
}

// waitPluginGone waits until no process runs the test's provider binary: a plugin
// whose Terraform died must finish its cleanup and exit, not linger.
func waitPluginGone(t *testing.T, bin string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if pids := processesOf(bin); len(pids) == 0 {
			return time.Since(start)
		} else if time.Since(start) > timeout {
			t.Fatalf("the provider plugin still runs %s after Terraform ended (pids %v)", timeout, pids)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func processesOf(bin string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && exe == bin {
			out = append(out, e.Name())
		}
	}
	return out
}

// workspaces returns, per participant, the IDs of the workspace containers of the
// template (running or not).
func workspaces(t *testing.T, templateName string) map[string][]string {
	t.Helper()
	by, _ := acctest.Workspaces(t, acctest.Client(t), templateName, acctest.Containers)
	return by
}

// completeSessions counts the template's sessions whose create finished (their
// workspace has been started: it is started last; the backend's Incomplete rule).
func completeSessions(t *testing.T, templateName string) int {
	t.Helper()
	return len(completeSessionIDs(t, templateName))
}

// completeSessionIDs are the IDs of the template's sessions whose create finished.
func completeSessionIDs(t *testing.T, templateName string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := filters.NewArgs(
		filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue),
		filters.Arg("label", workshop.LabelTemplate+"="+templateName),
		filters.Arg("label", workshop.LabelRole+"="+workshop.RoleWorkspace),
	)
	list, err := acctest.Client(t).ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range list {
		if c.State != container.StateCreated {
			out[c.Labels[workshop.LabelSession]] = true
		}
	}
	return out
}

func classConfig(templateName, prefix string) string {
	return classConfigN(templateName, prefix, interruptClass, "")
}

// classConfigN is a class of n sessions; sessionExtra goes into the session resource.
func classConfigN(templateName, prefix string, n int, sessionExtra string) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {}

resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    image = %q
  }
  resources           = { cpu = "100m", memory = "32Mi" }
}

resource "nalabo_workshop_session" "s" {
  for_each    = toset([for i in range(%d) : format("%s-%%02d", i)])
  template_id = nalabo_workshop_template.t.id
  participant = each.key
%s}

resource "nalabo_exec" "hello" {
  for_each   = nalabo_workshop_session.s
  session_id = each.value.id
  command    = ["sh", "-c", "echo hello from $(hostname)"]
}
`, templateName, acctest.ShellImage1, n, prefix, sessionExtra)
}

// reconcileOnce runs `terraform-provider-nalabo reconcile --once` for one template
// (never for other tests' sessions on the shared engine) and returns its output.
func reconcileOnce(t *testing.T, bin, templateName string, extra ...string) string {
	t.Helper()
	args := append([]string{"reconcile", "--once", "--backend=docker", "--listen=", "--validate-interval=0",
		"--template=" + templateName}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reconcile %v: %v\n%s", extra, err, tail(string(out), 4000))
	}
	return string(out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// TestAccInterruptedApplyDocker interrupts a class of 20 sessions (+ one nalabo_exec
// each) at several points: SIGKILL to terraform once some sessions are complete, and a
// double Ctrl-C. After each: the plugin exits on its own; the re-apply adopts or
// removes what the interrupted run left, so that every participant has exactly one
// workspace, the one in the state; destroy and `reconcile --once` leave nothing
// labelled. The positive controls: sessions that are on Docker but not in the state
// exist after at least one interruption and are adopted by the re-apply, and a remnant
// made by hand is kept within its grace period and reaped after it.
func TestAccInterruptedApplyDocker(t *testing.T) {
	if os.Getenv("TF_ACC") == "" || os.Getenv("NALABO_DOCKER_TESTS") == "" {
		t.Skip("acceptance test: set TF_ACC=1 and NALABO_DOCKER_TESTS=1")
	}
	acctest.PreCheck(t)
	bin := buildProvider(t)
	interrupts := []struct {
		name  string
		after int // complete sessions
		stop  func(t *testing.T, cmd *exec.Cmd)
		// graceful: Terraform closes the plugin's connection as it exits, and the plugin
		// may exit with it before it notices it is orphaned (it checks every second):
		// complete sessions missing from the state are then not adopted but removed
		// (DESIGN.md, "Orphaned copies"); only that nothing is left is required.
		graceful bool
	}{
		{"sigkill-after-10", 10, func(t *testing.T, cmd *exec.Cmd) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}, false},
		{"sigkill-after-1", 1, func(t *testing.T, cmd *exec.Cmd) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}, false},
		{"double-ctrl-c-after-5", 5, func(t *testing.T, cmd *exec.Cmd) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			time.Sleep(300 * time.Millisecond)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		}, true},
	}
	orphansSeen, adopted := 0, 0
	for _, tc := range interrupts {
		t.Run(tc.name, func(t *testing.T) {
			name := acctest.RandName("intr")
			prefix := acctest.RandName("p")
			run := newTFRun(t, bin, classConfig(name, prefix))
			t.Cleanup(func() {
				// Whatever happened, leave nothing behind.
				if t.Failed() {
					_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
					reconcileOnce(t, bin, name, "--grace=0s", "--remnant-grace=0s")
				}
			})

			took := run.applyUntil(fmt.Sprintf("%d sessions are complete", tc.after),
				func() bool { return completeSessions(t, name) >= tc.after },
				func(cmd *exec.Cmd) { tc.stop(t, cmd) }, "-parallelism=10")
			inState := run.sessionIDs()
			before := workspaces(t, name)
			complete := completeSessionIDs(t, name)
			// A complete session missing from the state must be adopted; an incomplete
			// one (its create was cut short) must be removed.
			notInState, incomplete := 0, 0
			for _, ids := range before {
				for _, id := range ids {
					switch {
					case inState[id]:
					case complete[id]:
						notInState++
					default:
						incomplete++
					}
				}
			}
			if !tc.graceful {
				orphansSeen += notInState
			}
			left := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name)
			t.Logf("interrupted: plugin exited %s after terraform; %d sessions in state, %d participants with a workspace, %d complete workspaces not in state, %d incomplete ones, %d complete sessions; labelled: %d containers, %d networks, %d volumes",
				took.Round(100*time.Millisecond), len(inState), len(before), notInState, incomplete, len(complete), left.Containers, left.Networks, left.Volumes)

			run.run("apply", "-auto-approve", "-parallelism=10")
			ids := run.sessionIDs()
			if len(ids) != interruptClass {
				t.Fatalf("%d sessions in state after the re-apply, want %d", len(ids), interruptClass)
			}
			after := workspaces(t, name)
			if len(after) != interruptClass {
				t.Errorf("%d participants have a workspace after the re-apply, want %d", len(after), interruptClass)
			}
			for p, ws := range after {
				if len(ws) != 1 {
					t.Errorf("participant %s has %d workspaces after the re-apply: %v", p, len(ws), ws)
					continue
				}
				if !ids[ws[0]] {
					t.Errorf("participant %s's workspace %s is not the session in the state", p, ws[0])
				}
			}
			for _, wsIDs := range before {
				for _, id := range wsIDs {
					if ids[id] && !inState[id] && !complete[id] {
						t.Errorf("session %s was adopted though its create had not finished", id)
					}
					if ids[id] && !inState[id] && complete[id] && !tc.graceful {
						adopted++
					}
				}
			}
			n := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name)
			t.Logf("after the re-apply: %d containers, %d networks, %d volumes labelled", n.Containers, n.Networks, n.Volumes)

			run.run("destroy", "-auto-approve")
			left = acctest.CountLabelled(t, workshop.LabelTemplate+"="+name)
			t.Logf("labelled objects after destroy: %s", left)
			if left.Total() != 0 {
				t.Errorf("destroy after the re-apply left %s", left)
			}
			reconcileOnce(t, bin, name, "--grace=0s", "--remnant-grace=0s")
			if n := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); n.Total() != 0 {
				t.Errorf("reconcile --once --grace=0s --remnant-grace=0s left %s", n)
			}
		})
	}
	t.Logf("over all interruptions: %d complete workspaces were not in the state after the interruption, %d of them adopted by the re-apply", orphansSeen, adopted)
	if orphansSeen != adopted {
		t.Errorf("%d complete workspaces were missing from the state after the interruptions but %d were adopted", orphansSeen, adopted)
	}

	// Deterministic positive control of the adoption rule: a complete session made
	// outside Terraform for participant 00 (what a create whose state was lost leaves)
	// is adopted, an incomplete one of participant 01 is removed; and a session
	// replaced with create_before_destroy is never adopted by its replacement (it was
	// claimed when the plan read it).
	t.Run("hand-made-crashed-run", func(t *testing.T) {
		name := acctest.RandName("intr")
		prefix := acctest.RandName("p")
		run := newTFRun(t, bin, classConfigN(name, prefix, 2, "  lifecycle {\n    create_before_destroy = true\n  }\n"))
		t.Cleanup(func() {
			_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
			reconcileOnce(t, bin, name, "--grace=0s", "--remnant-grace=0s")
		})
		run.run("apply", "-auto-approve", "-target=nalabo_workshop_template.t")
		tplID := run.templateID()
		b, err := docker.New(docker.Config{Host: os.Getenv("DOCKER_HOST")})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		tpl, err := b.GetTemplate(ctx, tplID)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Second)
		lost := &workshop.SessionSpec{ID: workshop.NewSessionID(), Template: tpl, Participant: prefix + "-00",
			CreatedAt: now, Duration: 4 * time.Hour, ExpiresAt: now.Add(4 * time.Hour)}
		if _, err := b.CreateSession(ctx, lost); err != nil {
			t.Fatal(err)
		}
		half := workshop.NewSessionID()
		labels := workshop.WithLabels(workshop.SessionLabels(half, prefix+"-01", name, now.Add(4*time.Hour)),
			workshop.LabelTemplateID, tpl.ID, workshop.LabelRole, workshop.RoleVolume)
		if _, err := acctest.Client(t).VolumeCreate(ctx, volume.CreateOptions{Name: "nalabo-session-" + half + "-workspace", Labels: labels}); err != nil {
			t.Fatal(err)
		}

		run.run("apply", "-auto-approve")
		ids := run.sessionIDs()
		if !ids[lost.ID] || len(ids) != 2 {
			t.Fatalf("the complete session %s missing from the state was not adopted: state has %v", lost.ID, ids)
		}
		if n := acctest.CountLabelled(t, workshop.LabelSession+"="+half); n.Total() != 0 {
			t.Fatalf("the incomplete session %s was not removed: %s", half, n)
		}
		for p, ws := range workspaces(t, name) {
			if len(ws) != 1 {
				t.Fatalf("participant %s has workspaces %v", p, ws)
			}
		}

		// Replace participant 00's session, new one first: the plan's refresh claimed
		// the old one, so the replacement builds a new session.
		run.run("apply", "-auto-approve", fmt.Sprintf("-replace=nalabo_workshop_session.s[%q]", prefix+"-00"))
		ids = run.sessionIDs()
		if ids[lost.ID] || len(ids) != 2 {
			t.Fatalf("the replaced session %s was adopted by its replacement: state has %v", lost.ID, ids)
		}
		if n := acctest.CountLabelled(t, workshop.LabelSession+"="+lost.ID); n.Total() != 0 {
			t.Fatalf("the replaced session %s left %s", lost.ID, n)
		}
		run.run("destroy", "-auto-approve")
		if n := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); n.Total() != 0 {
			t.Fatalf("destroy left %s", n)
		}
	})

	t.Run("hand-made-remnant", func(t *testing.T) {
		name := acctest.RandName("intr")
		id := workshop.NewSessionID()
		labels := workshop.WithLabels(workshop.SessionLabels(id, "ada", name, time.Now().Add(4*time.Hour)),
			workshop.LabelRole, workshop.RoleVolume)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := acctest.Client(t).VolumeCreate(ctx, volume.CreateOptions{Name: "nalabo-session-" + id + "-workspace", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		sel := workshop.LabelSession + "=" + id
		reconcileOnce(t, bin, name, "--grace=0s")
		if n := acctest.CountLabelled(t, sel); n.Volumes != 1 {
			t.Fatalf("a remnant younger than --remnant-grace (default 30m) was not kept: %s", n)
		}
		out := reconcileOnce(t, bin, name, "--grace=0s", "--remnant-grace=0s")
		if n := acctest.CountLabelled(t, sel); n.Total() != 0 {
			t.Fatalf("the remnant was not reaped: %s\n%s", n, tail(out, 3000))
		}
	})
}
