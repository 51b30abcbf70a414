package provider

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/testregistry"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// The manager of scripts/swarm-up.sh: its engine's network namespace and address (the
// nodes reach each other there, never the host's loopback).
const (
	swarmNode1Netns = "nalabo-swarm1"
	swarmNode1Addr  = "203.0.113.194"
)

// TestAccSwarmRegistryAuth: a swarm template whose workspace image is only in a private
// registry (basic auth, TLS with a test CA), served inside the manager's network
// namespace on its swarm address so that both nodes' engines reach it. The session is
// placed on the worker, which has no copy: it runs only if the manager handed the
// worker the login (--with-registry-auth). A wrong password fails the template's pull on
// the manager, and then the session's create, at once and naming the registry, leaving
// nothing on either node; without any login the worker's task is rejected ("No such
// image") and the create says which block to add; the right one runs the session on the
// worker with the private image, pinned by digest; a resource update is refused with a
// wrong password and applied with the right one. Duplicate or incomplete blocks fail the
// plan. No password in the TF_LOG=trace log or the state file.
func TestAccSwarmRegistryAuth(t *testing.T) {
	testAccSetup(t)
	host := acctest.SwarmHost(t)
	c := acctest.SwarmManager(t)
	node2, c2 := acctest.SwarmNode2(t)
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Swarm.NodeAddr != swarmNode1Addr {
		t.Fatalf("the test swarm's manager advertises %q, not %s in %s: this test serves the registry there (scripts/swarm-up.sh)",
			info.Swarm.NodeAddr, swarmNode1Addr, swarmNode1Netns)
	}

	password, wrong := "pw-"+acctest.RandName("secret"), "wrong-"+acctest.RandName("secret")
	reg := testregistry.StartInNetns(t, "erin", password, swarmNode1Netns, netip.MustParseAddr(swarmNode1Addr))
	// A fresh tag of a name only this registry has: no engine can have it already.
	ref := privateImage(t, reg, acctest.ShellImage1, "swarm/shell")
	// fromRegistry are an engine's references to images of reg (a tag, or only a digest
	// as a task pulls a pinned image). The image is one the engines have under other
	// names (acctest.ShellImage1): only a pull from reg makes these references.
	fromRegistry := func(ctx context.Context, e *client.Client) ([]string, error) {
		imgs, err := e.ImageList(ctx, image.ListOptions{All: true})
		if err != nil {
			return nil, err
		}
		var refs []string
		for _, im := range imgs {
			for _, n := range append(im.RepoDigests, im.RepoTags...) {
				if strings.HasPrefix(n, reg.Host+"/") {
					refs = append(refs, n)
				}
			}
		}
		return refs, nil
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, e := range []*client.Client{c, c2} {
			refs, _ := fromRegistry(cctx, e)
			for _, n := range refs {
				// By name, never by ID: that would delete the test image's other tags.
				_, _ = e.ImageRemove(cctx, n, image.RemoveOptions{Force: true})
			}
		}
	})
	present := func(e *client.Client) bool {
		t.Helper()
		refs, err := fromRegistry(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return len(refs) > 0
	}
	// Positive control of the pulls: neither engine has the image.
	if present(c) || present(c2) {
		t.Fatalf("%s is on a swarm engine before the test pulled it", ref)
	}

	name := acctest.RandName("swarm-reg")
	participant := acctest.RandName("ada")
	provider := fmt.Sprintf(`%s
variable "pw" {
  type      = string
  sensitive = true
}
provider "nalabo" {
  swarm {
    host        = %q
    subnet_pool = %q
    node_hosts  = { %q = %q }
    registry_auth {
      address  = %q
      username = "erin"
      password = var.pw
    }
  }
}
`, requiredNalabo, host, swarmTestPool, acctest.SwarmNode2Hostname, node2, reg.Host)
	template := fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                  = %q
  infrastructure_type   = "swarm"
  workspace {
    image = %q
  }
  resources             = { cpu = "100m", memory = "32Mi" }
  placement_constraints = ["node.labels.nalabo-node==2"]
}
`, name, ref)
	sessionWith := func(cpu string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  resources   = { cpu = %q }
}
resource "nalabo_exec" "e" {
  session_id = nalabo_workshop_session.s.id
  command    = ["cat", "/VERSION"]
}
`, participant, cpu)
	}
	session := sessionWith("100m")

	bin := buildProvider(t)
	r := newTFRun(t, bin, provider+template)
	logPath := filepath.Join(r.dir, "trace.log")
	base := append(secretsEnv(r.env), "TF_LOG=trace", "TF_LOG_PATH="+logPath)
	withPassword := func(pw string) { r.env = append(append([]string{}, base...), "TF_VAR_pw="+pw) }
	t.Cleanup(func() {
		withPassword(password)
		_ = r.command("destroy", "-auto-approve").Run()
	})
	// leftovers fails when an object of the test's sessions or template is still on a
	// node 30 s after the step: a worker drops its copy of a removed overlay network
	// (and a task's container) on its own, a few seconds after the manager removed them.
	noneLeft := func(step string, labels ...string) {
		t.Helper()
		for _, e := range []*client.Client{c, c2} {
			var err error
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
				if err = checkSwarmNone(e, labels...)(nil); err == nil || time.Now().After(deadline) {
					break
				}
			}
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}
	}
	leftovers := func(step string) {
		t.Helper()
		noneLeft(step, workshop.LabelParticipant+"="+participant, workshop.LabelTemplate+"="+name)
	}
	refusedMsg := fmt.Sprintf(`registry %s refused the login of swarm.registry_auth %q (user "erin")`, reg.Host, reg.Host)
	secrets := []string{password, wrong}
	checkLogAndState := func(step string, stateMarkers []string) {
		t.Helper()
		log, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		checkFiles(t, map[string]string{step + ": TF_LOG=trace log": string(log)}, secrets, []string{reg.Host})
		if state, err := os.ReadFile(filepath.Join(r.dir, "terraform.tfstate")); err == nil {
			checkFiles(t, map[string]string{step + ": terraform.tfstate": string(state)}, secrets, stateMarkers)
		}
		if err := os.Remove(logPath); err != nil {
			t.Fatal(err)
		}
	}

	// 0. Plan-time errors: two blocks for one registry (another spelling of it), a block
	// without password (no environment fallback on Swarm).
	withPassword(password)
	dup := strings.Replace(provider, "    registry_auth {\n", fmt.Sprintf("    registry_auth {\n      address  = %q\n      username = \"eve\"\n      password = \"x\"\n    }\n    registry_auth {\n", "https://"+reg.Host+"/v2/"), 1)
	noPassword := strings.Replace(provider, "      password = var.pw\n", "", 1)
	for cfg, want := range map[string]string{
		dup:        `Duplicate registry_auth address .*swarm\.registry_auth: .*` + regexp.QuoteMeta(reg.Host),
		noPassword: `Missing required argument .*"password" is required`,
	} {
		r.setConfig(cfg + template)
		out, code := r.try("plan")
		if code == 0 || !regexp.MustCompile(want).MatchString(out) {
			t.Fatalf("plan: want an error matching %q, got (exit %d):\n%s", want, code, tail(out, 3000))
		}
	}
	r.setConfig(provider + template)

	// 1. A wrong password: the manager's pull of the template's image is refused.
	withPassword(wrong)
	out, code := r.try("apply", "-auto-approve")
	if code == 0 || !strings.Contains(out, refusedMsg) {
		t.Fatalf("template with a wrong password: want an error with %q, got (exit %d):\n%s", refusedMsg, code, tail(out, 3000))
	}
	if reg.Refused() == 0 {
		t.Fatal("the registry refused no login: the failure was not the registry's")
	}
	leftovers("template with a wrong password")
	checkLogAndState("template with a wrong password", nil)

	// 2. The right password: the manager pulls it (the worker still has none).
	withPassword(password)
	r.run("apply", "-auto-approve")
	if !present(c) || present(c2) {
		t.Fatalf("after the template: image on the manager %v (want true), on the worker %v (want false)", present(c), present(c2))
	}
	checkLogAndState("template", []string{ref})

	// 3. A wrong password again, and a session: refused before anything is created,
	// within a bounded time (no task left waiting for a pull).
	r.setConfig(provider + template + session)
	withPassword(wrong)
	start := time.Now()
	out, code = r.try("apply", "-auto-approve")
	took := time.Since(start)
	if code == 0 || !strings.Contains(out, refusedMsg) || !strings.Contains(out, "create session") {
		t.Fatalf("session with a wrong password: want a create error with %q, got (exit %d):\n%s", refusedMsg, code, tail(out, 3000))
	}
	if took > 2*time.Minute {
		t.Errorf("the refused session took %s to fail", took)
	}
	t.Logf("session with a wrong password failed in %s", took.Round(100*time.Millisecond))
	for _, e := range []*client.Client{c, c2} {
		if err := checkSwarmNone(e, workshop.LabelParticipant+"="+participant)(nil); err != nil {
			t.Fatalf("session with a wrong password: %v", err)
		}
	}
	if present(c2) {
		t.Fatal("the worker has the image after a refused login")
	}
	checkLogAndState("session with a wrong password", []string{ref})

	// 3b. No login at all (nothing to check first): the service is created without
	// one, the worker's pull is refused and its task rejected with "No such image"; the
	// create fails with Swarm's words, the registry and the block to add, and removes
	// what it made.
	noAuth := regexp.MustCompile(`(?s)    registry_auth \{.*?\n    \}\n`).ReplaceAllString(provider, "")
	if noAuth == provider {
		t.Fatal("could not drop the registry_auth block from the provider configuration")
	}
	r.setConfig(noAuth + template + session)
	refused := reg.Refused()
	start = time.Now()
	out, code = r.try("apply", "-auto-approve")
	took = time.Since(start)
	wantHint := fmt.Sprintf(`add a swarm.registry_auth block with address = %q`, reg.Host)
	if code == 0 || !strings.Contains(out, "No such image: "+ref) || !strings.Contains(out, wantHint) {
		t.Fatalf("session without a login: want a rejected task (No such image: %s) and %q, got (exit %d):\n%s", ref, wantHint, code, tail(out, 3000))
	}
	t.Logf("session without a login failed in %s", took.Round(100*time.Millisecond))
	if reg.Refused() == refused {
		t.Error("the registry refused no pull: the worker did not try it")
	}
	noneLeft("session without a login", workshop.LabelParticipant+"="+participant)
	if present(c2) {
		t.Fatal("the worker has the image without a login")
	}
	r.setConfig(provider + template + session)
	checkLogAndState("session without a login", []string{ref})

	// 4. The right password: the worker pulls with the login the manager handed it.
	withPassword(password)
	accepted := reg.Accepted()
	r.run("apply", "-auto-approve")
	show := r.output(false, "show", "-json")
	if !strings.Contains(show, `"stdout":"1\n"`) {
		t.Errorf("the session's exec did not print the image's /VERSION 1:\n%s", tail(show, 2000))
	}
	if !present(c2) {
		t.Error("the worker does not have the private image: its task did not pull it")
	}
	if reg.Accepted() == accepted {
		t.Error("the registry accepted no login for the session")
	}
	ids := r.stateAttrs("nalabo_workshop_session", "id")
	if len(ids) != 1 {
		t.Fatalf("sessions in the state: %v", ids)
	}
	svc, _, err := c.ServiceInspectWithRaw(ctx, workshop.SessionObjectName(ids[0]), swarm.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := svc.Spec.TaskTemplate.ContainerSpec.Image; !strings.HasPrefix(img, ref+"@sha256:") {
		t.Errorf("the service's image is %q, want %s pinned by the digest the manager resolved", img, ref)
	}
	f := filters.NewArgs(filters.Arg("label", workshop.LabelSession+"="+ids[0]))
	for e, want := range map[*client.Client]int{c2: 1, c: 0} {
		if cs, err := e.ContainerList(ctx, container.ListOptions{Filters: f}); err != nil || len(cs) != want {
			t.Errorf("session %s: %d task containers on %s (%v), want %d", ids[0], len(cs), e.DaemonHost(), err, want)
		}
	}
	checkLogAndState("session", []string{ref, ids[0]})

	// 5. A resource update (Swarm replaces the task) with a wrong password: refused
	// before the service changes; the running task stays.
	limits := func() int64 {
		t.Helper()
		svc, _, err := c.ServiceInspectWithRaw(ctx, workshop.SessionObjectName(ids[0]), swarm.ServiceInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Spec.TaskTemplate.Resources.Limits.NanoCPUs
	}
	r.setConfig(provider + template + sessionWith("200m"))
	withPassword(wrong)
	out, code = r.try("apply", "-auto-approve")
	if code == 0 || !strings.Contains(out, refusedMsg) || !strings.Contains(out, "update session") {
		t.Fatalf("update with a wrong password: want an update error with %q, got (exit %d):\n%s", refusedMsg, code, tail(out, 3000))
	}
	if got := limits(); got != 100e6 {
		t.Errorf("after a refused update the service's CPU limit is %d nano-CPUs, want 100m", got)
	}
	checkLogAndState("update with a wrong password", []string{ref})

	// 6. The right password: the update runs a new task with the new limit.
	withPassword(password)
	r.run("apply", "-auto-approve")
	if got := limits(); got != 200e6 {
		t.Errorf("after the update the service's CPU limit is %d nano-CPUs, want 200m", got)
	}
	if ids2 := r.stateAttrs("nalabo_workshop_session", "id"); len(ids2) != 1 || ids2[0] != ids[0] {
		t.Errorf("the update replaced the session: %v, was %s", ids2, ids[0])
	}
	checkLogAndState("update", []string{ref})

	r.run("destroy", "-auto-approve")
	leftovers("destroy")
}
