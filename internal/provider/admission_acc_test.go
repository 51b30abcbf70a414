package provider

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/config"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Class admission on the real Docker engine, through the real CLI. The engine is
// shared with other tests (and benches) whose sessions count too: the limits are set
// relative to what the engine reports just before each plan, and a plan whose figures
// show that the engine changed in between is retried.

// admissionClass is a class of n sessions of a template reserving 1 CPU each;
// provider is the provider block's body.
func admissionClass(templateName, provider string, n int) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {
%s
}

resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    image = %q
  }
  resources = { cpu = "1", memory = "32Mi" }
}

resource "nalabo_workshop_session" "s" {
  count       = %d
  template_id = nalabo_workshop_template.t.id
  participant = format("%s-%%02d", count.index)
}
`, provider, templateName, acctest.ShellImage1, n, templateName)
}

// dockerProvider is a provider body with a docker overcommit (memory never limits:
// other tests' sessions come and go) and max_sessions when > 0.
func dockerProvider(cpuRatio float64, maxSessions int) string {
	s := fmt.Sprintf("  docker {\n    overcommit = { cpu = %s, memory = 1000 }\n  }\n", strconv.FormatFloat(cpuRatio, 'f', -1, 64))
	if maxSessions > 0 {
		s += fmt.Sprintf("  max_sessions = %d\n", maxSessions)
	}
	return s
}

// try runs terraform and returns its output (whitespace and box drawing folded, so
// that wrapped messages match) and exit code.
func (r *tfRun) try(args ...string) (string, int) {
	r.t.Helper()
	out, err := r.command(args...).CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("terraform %s: %v", strings.Join(args, " "), err)
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(string(out), "│", " ")), " "), code
}

// applySaved applies a saved plan (its path goes after the flags).
func (r *tfRun) applySaved(planFile string) {
	r.t.Helper()
	cmd := exec.Command(r.tf, "apply", "-no-color", "-input=false", planFile)
	cmd.Dir, cmd.Env = r.dir, r.env
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("terraform apply %s: %v\n%s", planFile, err, tail(string(out), 4000))
	}
}

func (r *tfRun) setConfig(cfg string) {
	r.t.Helper()
	writeFiles(r.t, r.dir, map[string]string{"main.tf": cfg})
}

// liveDocker is what the engine reports now: the same figures the provider admits
// against.
func liveDocker(t *testing.T) *workshop.Info {
	t.Helper()
	b, err := docker.New(config.Docker{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := b.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

var liveFiguresRE = regexp.MustCompile(`\+ ([0-9.]+) reserved by (\d+) live sessions`)

// clearAdmissionEnv keeps a CI machine's relaxed admission settings out of the tests
// of admission.
func clearAdmissionEnv(t *testing.T) {
	for _, name := range []string{envMaxSessions, envOvercommit(workshop.InfraDocker, "cpu"), envOvercommit(workshop.InfraDocker, "memory"),
		envOvercommit(workshop.InfraKubernetes, "cpu"), envOvercommit(workshop.InfraKubernetes, "memory")} {
		t.Setenv(name, "")
	}
}

func TestAccAdmissionDocker(t *testing.T) {
	requireDockerAcc(t)
	clearAdmissionEnv(t)
	acctest.RequireTerraform(t)
	name := acctest.RandName("adm")
	bin := buildProvider(t)
	ncpu := liveDocker(t).AllocatableMilliCPU / 1000
	a := newTFRun(t, bin, admissionClass(name, dockerProvider(1, 0), 3))
	t.Cleanup(func() {
		a.setConfig(admissionClass(name, dockerProvider(1, 0), 0))
		if out, code := a.try("destroy", "-auto-approve"); code != 0 {
			t.Errorf("destroy: %s", tail(out, 3000))
		}
	})

	// 3 sessions × 1 CPU on an ncpu-CPU host with overcommit 1: refused at plan, with
	// the figures, and nothing is created (not even the template).
	out, code := a.try("plan", "-out=tfplan")
	if code == 0 {
		t.Fatalf("a class of 3 × 1 CPU with overcommit 1 on %d CPUs was planned:\n%s", ncpu, tail(out, 3000))
	}
	for _, want := range []string{
		"Error: The class does not fit the Docker host",
		"new sessions × 1 CPU planned so far)",
		fmt.Sprintf("the Docker host has %d CPU × overcommit 1 = %d CPU", ncpu, ncpu),
		"raise docker.overcommit", "No session was created.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal lacks %q:\n%s", want, tail(out, 3000))
		}
	}
	if c := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); c.Total() != 0 {
		t.Fatalf("a refused plan left objects: %s", c)
	}

	// Positive control: the same class with a high overcommit plans, and its saved plan
	// applies (the apply plans each session again, and admits it again).
	a.setConfig(admissionClass(name, dockerProvider(1000, 0), 3))
	if out, code := a.try("plan", "-out=tfplan"); code != 0 {
		t.Fatalf("overcommit 1000: plan refused:\n%s", tail(out, 3000))
	}
	a.applySaved("tfplan")
	if got := len(workspaces(t, name)); got != 3 {
		t.Fatalf("after apply: %d sessions, want 3", got)
	}

	// Lowering the overcommit below what the admitted class reserves refuses nothing
	// that does not grow: the unchanged re-plan has no changes and no error...
	a.setConfig(admissionClass(name, dockerProvider(1, 0), 3))
	if out, code := a.try("plan", "-detailed-exitcode"); code != 0 {
		t.Fatalf("unchanged class after lowering the overcommit: exit %d, want 0 (no changes):\n%s", code, tail(out, 3000))
	}
	// ...but one more session is growth, refused; the live figures count the class.
	a.setConfig(admissionClass(name, dockerProvider(1, 0), 4))
	out, code = a.try("plan")
	if code == 0 || !strings.Contains(out, "(1 new sessions × 1 CPU planned so far)") {
		t.Fatalf("a 4th session beyond overcommit 1 was not refused (exit %d):\n%s", code, tail(out, 3000))
	}
	if m := liveFiguresRE.FindStringSubmatch(out); m == nil || mustFloat(t, m[1]) < 3 || mustInt(t, m[2]) < 3 {
		t.Errorf("the live figures do not count the class's 3 sessions × 1 CPU: %v\n%s", m, tail(out, 3000))
	}

	// Replacing a session of a full host: the plan counts it once (no growth); the
	// apply deletes it, then plans its successor as new, which must fit in what the
	// delete freed. The limit is what the engine reserves now (+10m for rounding).
	retry(t, func() (string, bool) {
		info := liveDocker(t)
		r := float64(info.UsedMilliCPU+10) / float64(info.AllocatableMilliCPU)
		a.setConfig(admissionClass(name, dockerProvider(r, 0), 3))
		out, code := a.try("apply", "-auto-approve", "-replace=nalabo_workshop_session.s[0]")
		return fmt.Sprintf("replace on a full host (overcommit %v): exit %d:\n%s", r, code, tail(out, 3000)), code == 0
	})
	if got := len(workspaces(t, name)); got != 3 {
		t.Fatalf("after the replacement: %d sessions, want 3", got)
	}

	// max_sessions: with the sessions the engine holds now, one more is refused;
	// a limit one higher admits it (positive control).
	retry(t, func() (string, bool) {
		live := liveDocker(t).Sessions
		a.setConfig(admissionClass(name, dockerProvider(1000, live), 4))
		out, code := a.try("plan")
		want := fmt.Sprintf("this plan creates 1 sessions so far and %d exist already", live)
		if code != 0 && strings.Contains(out, want) && strings.Contains(out, fmt.Sprintf("more than max_sessions = %d", live)) {
			return "", true
		}
		return fmt.Sprintf("max_sessions = %d (the live count), 4th session: exit %d, want a refusal saying %q:\n%s", live, code, want, tail(out, 3000)), false
	})
	retry(t, func() (string, bool) {
		live := liveDocker(t).Sessions
		a.setConfig(admissionClass(name, dockerProvider(1000, live+1), 4))
		out, code := a.try("plan", "-detailed-exitcode")
		return fmt.Sprintf("max_sessions = %d (live + 1), 4th session: exit %d, want 2 (changes):\n%s", live+1, code, tail(out, 3000)), code == 2
	})

	// A second state (another cohort) on the same engine: the first class's sessions
	// count. A limit half a CPU above what the engine reserves now refuses its 1-CPU
	// session; 1.5 CPU above admits it (positive control).
	b := newTFRun(t, bin, "")
	nameB := name + "-b"
	ratio := func(extra int64) float64 {
		info := liveDocker(t)
		return float64(info.UsedMilliCPU+extra) / float64(info.AllocatableMilliCPU)
	}
	retry(t, func() (string, bool) {
		r := ratio(500)
		if r < 1 {
			return "the engine reserves less than its capacity: the second state's check needs the first class's sessions", false
		}
		b.setConfig(admissionClass(nameB, dockerProvider(r, 0), 1))
		out, code := b.try("plan")
		m := liveFiguresRE.FindStringSubmatch(out)
		if code != 0 && m != nil && mustFloat(t, m[1]) >= 3 && strings.Contains(out, "(1 new sessions × 1 CPU planned so far)") {
			return "", true
		}
		return fmt.Sprintf("second state with room for half a CPU: exit %d, want a refusal counting the first class:\n%s", code, tail(out, 3000)), false
	})
	retry(t, func() (string, bool) {
		b.setConfig(admissionClass(nameB, dockerProvider(ratio(1500), 0), 1))
		out, code := b.try("plan", "-detailed-exitcode")
		return fmt.Sprintf("second state with room for 1.5 CPU: exit %d, want 2 (changes):\n%s", code, tail(out, 3000)), code == 2
	})

	// The admitted class is destroyed under the lowered overcommit.
	a.setConfig(admissionClass(name, dockerProvider(1, 0), 3))
	a.run("destroy", "-auto-approve")
	if got := len(workspaces(t, name)); got != 0 {
		t.Fatalf("after destroy: %d sessions left", got)
	}

	admissionStoppedCohort(t, bin, name)
}

// persistentClass is admissionClass with persistent sessions in the given state.
func persistentClass(templateName, provider string, n int, state string) string {
	return strings.Replace(admissionClass(templateName, provider, n),
		"  participant = format(", fmt.Sprintf("  persistence = { size = \"64Mi\" }\n  state       = %q\n  participant = format(", state), 1)
}

var resumeRefusedRE = regexp.MustCompile(`in resource "nalabo_workshop_session" "s": \d+: state = "running"`)

// admissionStoppedCohort: an instructor stops one cohort (persistent sessions) to make
// room for another on a full host. Stopped sessions reserve nothing; resuming them is
// admitted like a create, refused on state while the other cohort holds the room.
func admissionStoppedCohort(t *testing.T, bin, name string) {
	nameP, nameQ := name+"-p", name+"-q"
	p := newTFRun(t, bin, persistentClass(nameP, dockerProvider(1000, 0), 2, "running"))
	q := newTFRun(t, bin, "")
	t.Cleanup(func() {
		for _, r := range []*tfRun{q, p} {
			r.setConfig(admissionClass(name+"-gone", dockerProvider(1000, 0), 0))
			if out, code := r.try("destroy", "-auto-approve"); code != 0 {
				t.Errorf("destroy: %s", tail(out, 3000))
			}
		}
	})
	p.run("apply", "-auto-approve")

	// Room for one more CPU (+10m for rounding) while cohort P (2 × 1 CPU) runs: cohort
	// Q (2 × 1 CPU) is refused. This is the positive control of the admission below.
	var ratio float64
	retry(t, func() (string, bool) {
		info := liveDocker(t)
		ratio = float64(info.UsedMilliCPU+1010) / float64(info.AllocatableMilliCPU)
		q.setConfig(admissionClass(nameQ, dockerProvider(ratio, 0), 2))
		out, code := q.try("plan")
		return fmt.Sprintf("cohort Q while P runs (overcommit %v): exit %d, want a refusal:\n%s", ratio, code, tail(out, 3000)),
			code != 0 && strings.Contains(out, "(2 new sessions × 1 CPU planned so far)")
	})

	// P stopped: the engine's figures leave its 2 CPUs out, but still count its sessions.
	before := liveDocker(t)
	p.setConfig(persistentClass(nameP, dockerProvider(1000, 0), 2, "stopped"))
	p.run("apply", "-auto-approve")
	after := liveDocker(t)
	if after.StoppedSessions < 2 || after.UsedMilliCPU > before.UsedMilliCPU-2000+500 || after.Sessions < before.Sessions {
		t.Errorf("after stopping 2 × 1 CPU: %d sessions (%d stopped), %dm reserved; before: %d sessions, %dm",
			after.Sessions, after.StoppedSessions, after.UsedMilliCPU, before.Sessions, before.UsedMilliCPU)
	}

	// The same cohort Q, same overcommit, is admitted and created now.
	if out, code := q.try("apply", "-auto-approve"); code != 0 {
		t.Fatalf("cohort Q after P stopped (overcommit %v): exit %d, want it created:\n%s", ratio, code, tail(out, 3000))
	}
	if got := len(workspaces(t, nameQ)); got != 2 {
		t.Fatalf("cohort Q: %d sessions, want 2", got)
	}

	// Resuming P while Q holds the room: refused on state, P stays stopped.
	p.setConfig(persistentClass(nameP, dockerProvider(ratio, 0), 2, "running"))
	out, code := p.try("apply", "-auto-approve")
	for _, want := range []string{"Error: The class does not fit the Docker host", "Resuming the stopped session of",
		"CPU for 2 resumed sessions planned so far", "The session stays stopped"} {
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("resume while Q runs (exit %d) lacks %q:\n%s", code, want, tail(out, 3000))
		}
	}
	if !resumeRefusedRE.MatchString(out) {
		t.Errorf("the refusal does not name state:\n%s", tail(out, 3000))
	}
	// The plan failed, so the apply changed nothing.
	if got := p.stateAttrs("nalabo_workshop_session", "state"); len(got) != 2 || got[0] != "stopped" || got[1] != "stopped" {
		t.Errorf("after the refused resume: states %v, want stopped", got)
	}

	// Positive control: with Q gone, the same resume is admitted. (Should other
	// sessions have taken the room meanwhile, a retry gives the resume 2 CPUs above
	// what the engine reserves now.)
	q.setConfig(admissionClass(nameQ, dockerProvider(ratio, 0), 0))
	q.run("apply", "-auto-approve")
	retry(t, func() (string, bool) {
		out, code := p.try("apply", "-auto-approve")
		msg := fmt.Sprintf("resume after Q is gone (overcommit %v): exit %d:\n%s", ratio, code, tail(out, 3000))
		if code != 0 {
			info := liveDocker(t)
			ratio = float64(info.UsedMilliCPU+2010) / float64(info.AllocatableMilliCPU)
			p.setConfig(persistentClass(nameP, dockerProvider(ratio, 0), 2, "running"))
		}
		return msg, code == 0
	})
	if got := p.stateAttrs("nalabo_workshop_session", "state"); len(got) != 2 || got[0] != "running" || got[1] != "running" {
		t.Errorf("after the resume: states %v, want running", got)
	}
}

// retry runs f up to three times: the shared engine's figures may change between the
// test's reading and the plan's.
func retry(t *testing.T, f func() (string, bool)) {
	t.Helper()
	var msg string
	for i := 0; i < 3; i++ {
		var ok bool
		if msg, ok = f(); ok {
			return
		}
		t.Logf("attempt %d: %s", i+1, tail(msg, 600))
	}
	t.Fatal(msg)
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustInt(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
