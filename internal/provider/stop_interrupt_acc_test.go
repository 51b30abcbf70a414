package provider

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/k8shome"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// The unlucky instructor's tests: `terraform apply` killed (SIGKILL) while it stops a
// persistent session and while it resumes it. The next apply must converge on what the
// configuration says, with nothing left behind or made twice, and the home's data kept.

// persistentSessionTF is a persistent session "s" of template "t", with the provider
// block the CLI runs need.
func persistentSessionTF(participant, state string) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  state       = %q
  persistence = { size = "256Mi", retain_days = 1 }
}
`, participant, state)
}

// convergedState checks the state and the next plan after the re-apply: the session
// says state and status want, and nothing is left to change.
func (r *tfRun) convergedState(want string) {
	r.t.Helper()
	if got := r.stateAttrs("nalabo_workshop_session", "state"); len(got) != 1 || got[0] != want {
		r.t.Errorf("state after the re-apply: %v, want %s", got, want)
	}
	if got := r.stateAttrs("nalabo_workshop_session", "status"); len(got) != 1 || got[0] != want {
		r.t.Errorf("status after the re-apply: %v, want %s", got, want)
	}
	if ch := r.planChanges(); len(ch) != 0 {
		r.t.Errorf("the plan after the re-apply still changes %v", ch)
	}
}

// sessionContainerStates is the state of each container of session id, by name.
func sessionContainerStates(t *testing.T, id string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := acctest.Client(t).ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue),
		filters.Arg("label", workshop.LabelSession+"="+id),
	)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range list {
		out[strings.TrimPrefix(c.Names[0], "/")] = c.State
	}
	return out
}

func countState(states map[string]string, state string) int {
	n := 0
	for _, s := range states {
		if s == state {
			n++
		}
	}
	return n
}

func names(m map[string]string) string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TestAccInterruptedStopResumeDocker kills `terraform apply` while it stops a persistent
// Docker session (workspace and a Compose service, each 5s to stop: the kill lands
// once the first one stopped), then while it resumes it (once one
// container runs again). A stopped session with services must also read stopped, not
// degraded (its stopped services are on no network). Each time the
// next apply converges: all of the session's containers stopped (or running), the
// same containers as before (nothing orphaned or made twice), state and status agree
// and the plan is empty; the file written in the home before is still there. The
// positive control: before the stop, both containers run and the file is written.
func TestAccInterruptedStopResumeDocker(t *testing.T) {
	if os.Getenv("TF_ACC") == "" || os.Getenv("NALABO_DOCKER_TESTS") == "" {
		t.Skip("acceptance test: set TF_ACC=1 and NALABO_DOCKER_TESTS=1")
	}
	acctest.PreCheck(t)
	bin := buildProvider(t)
	name := acctest.RandName("stopkill")
	participant := acctest.RandName("ada")
	cfg := func(state string) string {
		return fmt.Sprintf(`
provider "nalabo" {}

resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    image   = %q
    # Both slow to stop (SIGTERM ignored: docker stop waits 5s each): the kill lands
    # between the first container's stop and the second's.
    command = ["sh", "-c", "trap '' TERM; sleep infinity"]
  }
  compose = <<-EOT
    services:
      db:
        image: %s
        command: ["sh", "-c", "trap '' TERM; sleep infinity"]
  EOT
  resources = { cpu = "250m", memory = "96Mi" }
}
`, name, acctest.ShellImage1, acctest.ShellImage1) + persistentSessionTF(participant, state)
	}
	run := newTFRun(t, bin, cfg("running"))
	t.Cleanup(func() {
		if t.Failed() {
			_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
		}
	})
	run.run("apply", "-auto-approve")
	ids := run.stateAttrs("nalabo_workshop_session", "id")
	if len(ids) != 1 {
		t.Fatalf("sessions in state: %v", ids)
	}
	id := ids[0]
	ws := workshop.SessionObjectName(id)
	states := func() map[string]string { return sessionContainerStates(t, id) }
	before := states()
	if len(before) != 2 || countState(before, "running") != 2 {
		t.Fatalf("the session's containers before the stop: %v (want the workspace and the service, running)", before)
	}
	if out, code, err := execIn(t, ws, "sh", "-c", "echo kept-across-kills > /workspace/notes.txt && cat /workspace/notes.txt"); err != nil || code != 0 || strings.TrimSpace(out) != "kept-across-kills" {
		t.Fatalf("write the home: %q, exit %d, %v", out, code, err)
	}

	// Killed while stopping: the next apply stops what still runs.
	run.setConfig(cfg("stopped"))
	run.applyUntil("a container of the session stopped", func() bool { return countState(states(), "running") < 2 }, nil)
	t.Logf("killed the stop with the containers %v", states())
	run.run("apply", "-auto-approve")
	after := states()
	if names(after) != names(before) || countState(after, "running") != 0 {
		t.Errorf("the session's containers after the re-apply: %v (want %s, none running)", after, names(before))
	}
	run.convergedState(workshop.StateStopped)

	// Killed while resuming: the next apply starts what is still stopped.
	run.setConfig(cfg("running"))
	run.applyUntil("a container of the session runs", func() bool { return countState(states(), "running") > 0 }, nil)
	t.Logf("killed the resume with the containers %v", states())
	run.run("apply", "-auto-approve")
	after = states()
	if names(after) != names(before) || countState(after, "running") != 2 {
		t.Errorf("the session's containers after the re-apply: %v (want %s, all running)", after, names(before))
	}
	run.convergedState(workshop.StateRunning)
	if out, code, err := execIn(t, ws, "cat", "/workspace/notes.txt"); err != nil || code != 0 || strings.TrimSpace(out) != "kept-across-kills" {
		t.Errorf("the home after the kills: %q, exit %d, %v (want kept-across-kills)", out, code, err)
	}

	run.run("destroy", "-auto-approve")
	if n := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); n.Total() != 0 {
		t.Errorf("destroy left %s", n)
	}
}

// k8sSessionPods lists the pods of a session's namespace that are not being deleted,
// by name, with whether each is ready.
func k8sSessionPods(t *testing.T, cs k8s.Interface, ns string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		state := "not-ready"
		if p.DeletionTimestamp != nil {
			state = "terminating"
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
				state = "ready"
			}
		}
		out[p.Name] = state
	}
	return out
}

// TestAccInterruptedStopResumeKubernetes is TestAccInterruptedStopResumeDocker on a
// namespace session whose template has a Deployment: killed once the stop recorded
// the workloads it scales down (nalabo.io/stopped-workloads), then once the resume
// scaled the Deployment back up. Each time the next apply converges: stopped, no pod
// left in the namespace and the Deployment at zero; running, the workspace and one
// pod of the Deployment ready, the record gone; state and status agree, the plan is
// empty, the file in the home is kept. The positive control: before the stop, the
// Deployment's pod and the workspace run, and the file is written.
func TestAccInterruptedStopResumeKubernetes(t *testing.T) {
	kc := k8sKubeconfig(t)
	testAccSetup(t)
	cs := k8sAdmin(t)
	bin := buildProvider(t)
	name := acctest.RandName("k8s-stopkill")
	participant := acctest.RandName("ada")
	k8shome.Volume(t, cs, name)
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: kc, Namespace: "nalabo-acc"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(state string) string {
		return k8sProviderConfig(kc) + k8sTemplateConfig("t", name, nginxDemoManifests, "") + persistentSessionTF(participant, state)
	}
	run := newTFRun(t, bin, cfg("running"))
	t.Cleanup(func() {
		if t.Failed() {
			_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
		}
	})
	run.run("apply", "-auto-approve")
	ids := run.stateAttrs("nalabo_workshop_session", "id")
	if len(ids) != 1 {
		t.Fatalf("sessions in state: %v", ids)
	}
	id := ids[0]
	ns := workshop.SessionObjectName(id)
	ctx := context.Background()
	exec := func(script string) string {
		t.Helper()
		ectx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		r, err := b.Exec(ectx, id, &workshop.ExecRequest{Command: []string{"/bin/sh", "-c", script}})
		if err != nil {
			t.Fatalf("exec %q: %v", script, err)
		}
		return strings.TrimSpace(r.Stdout)
	}
	replicas := func() (spec, ready int32) {
		t.Helper()
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "nginx-demo", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("deployment nginx-demo: %v", err)
		}
		return *d.Spec.Replicas, d.Status.ReadyReplicas
	}
	annotation := func(key string) string {
		t.Helper()
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
		return n.Annotations[key]
	}
	pods := func() map[string]string { return k8sSessionPods(t, cs, ns) }
	before := pods()
	if len(before) != 2 || countState(before, "ready") != 2 {
		t.Fatalf("pods before the stop: %v (want the workspace and nginx-demo's, ready)", before)
	}
	if got := exec("echo kept-across-kills > /home/nalabo/notes.txt && cat /home/nalabo/notes.txt"); got != "kept-across-kills" {
		t.Fatalf("write the home: %q", got)
	}

	// Killed while stopping, once the workloads are recorded: the next apply finishes.
	run.setConfig(cfg("stopped"))
	run.applyUntil("the stop recorded the workloads", func() bool { return annotation("nalabo.io/stopped-workloads") != "" }, nil)
	spec, _ := replicas()
	t.Logf("killed the stop with the pods %v, nginx-demo at %d replicas", pods(), spec)
	run.run("apply", "-auto-approve")
	if p := pods(); len(p) != 0 {
		t.Errorf("pods of the stopped session after the re-apply: %v (want none)", p)
	}
	if spec, ready := replicas(); spec != 0 || ready != 0 {
		t.Errorf("nginx-demo after the re-apply: %d replicas, %d ready (want 0)", spec, ready)
	}
	run.convergedState(workshop.StateStopped)

	// Killed while resuming, once the Deployment is scaled back up: the next apply finishes.
	run.setConfig(cfg("running"))
	run.applyUntil("the resume scaled nginx-demo up", func() bool { spec, _ := replicas(); return spec > 0 }, nil)
	t.Logf("killed the resume with the pods %v", pods())
	run.run("apply", "-auto-approve")
	if p := pods(); len(p) != 2 || countState(p, "ready") != 2 || p["workspace"] != "ready" {
		t.Errorf("pods after the re-apply: %v (want the workspace and one of nginx-demo, ready)", p)
	}
	if spec, ready := replicas(); spec != 1 || ready != 1 {
		t.Errorf("nginx-demo after the re-apply: %d replicas, %d ready (want 1)", spec, ready)
	}
	for _, key := range []string{"nalabo.io/stopped-workloads", "nalabo.io/stopped-workspace"} {
		if v := annotation(key); v != "" {
			t.Errorf("the running session's namespace still has %s", key)
		}
	}
	run.convergedState(workshop.StateRunning)
	if got := exec("cat /home/nalabo/notes.txt"); got != "kept-across-kills" {
		t.Errorf("the home after the kills: %q (want kept-across-kills)", got)
	}

	run.run("destroy", "-auto-approve")
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after destroy: %v (want gone)", ns, err)
	}
}
