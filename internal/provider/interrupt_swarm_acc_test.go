package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	swarmbackend "github.com/nalabo/terraform-provider-nalabo/internal/backend/swarm"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const swarmInterruptClass = 6

// swarmClassConfig is a class of small sessions on the test swarm; with a second node
// (NALABO_SWARM_NODE2_HOST), its engine is in node_hosts.
func swarmClassConfig(host, name, prefix string) string {
	nh := ""
	if node2 := acctest.SwarmNode2Host(); node2 != "" {
		nh = fmt.Sprintf("    node_hosts  = { %q = %q }\n", acctest.SwarmNode2Hostname, node2)
	}
	return fmt.Sprintf(`
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {
  swarm {
    host        = %q
    subnet_pool = %q
%s  }
}

resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "swarm"
  workspace {
    image = %q
  }
  resources = { cpu = "50m", memory = "32Mi" }
}

resource "nalabo_workshop_session" "s" {
  for_each    = toset([for i in range(%d) : format("%s-%%02d", i)])
  template_id = nalabo_workshop_template.t.id
  participant = each.key
}
`, host, swarmTestPool, nh, name, acctest.ShellImage1, swarmInterruptClass, prefix)
}

// swarmWorkspaces returns, per participant, the session IDs of the template's
// services, and the IDs of those whose create finished (no creating label).
func swarmWorkspaces(t *testing.T, name string) (map[string][]string, map[string]bool) {
	t.Helper()
	by, labels := acctest.Workspaces(t, acctest.SwarmManager(t), name, acctest.Services)
	complete := map[string]bool{}
	for id, l := range labels {
		if l[swarmbackend.LabelCreating] == "" {
			complete[id] = true
		}
	}
	return by, complete
}

// TestAccInterruptedApplySwarm: a Swarm class apply killed (SIGKILL) once two sessions
// are complete leaves services the state does not hold; the re-apply adopts the
// complete ones and removes the incomplete ones, so that every participant has exactly
// one service, the one in the state; destroy leaves nothing on the swarm. The
// deterministic positive control: a complete session made beside Terraform for
// participant 00 is adopted, and an overlay network without its service (a create
// killed between the two) for participant 01 is removed.
func TestAccInterruptedApplySwarm(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	host := acctest.SwarmHost(t)
	c := acctest.SwarmManager(t)
	bin := buildProvider(t)
	reconcile := func(name string) {
		cmd := exec.Command(bin, "reconcile", "--once", "--backend=swarm", "--listen=", "--validate-interval=0",
			"--template="+name, "--grace=0s", "--remnant-grace=0s")
		cmd.Env = append(os.Environ(), "NALABO_SWARM_HOST="+host)
		if node2 := acctest.SwarmNode2Host(); node2 != "" {
			cmd.Env = append(cmd.Env, "NALABO_SWARM_NODE_HOSTS="+acctest.SwarmNode2Hostname+"="+node2)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("reconcile --once: %v\n%s", err, tail(string(out), 3000))
		}
	}
	check := func(t *testing.T, run *tfRun, name string) {
		t.Helper()
		ids := run.sessionIDs()
		if len(ids) != swarmInterruptClass {
			t.Fatalf("%d sessions in state after the re-apply, want %d", len(ids), swarmInterruptClass)
		}
		by, _ := swarmWorkspaces(t, name)
		if len(by) != swarmInterruptClass {
			t.Errorf("%d participants have a service after the re-apply, want %d: %v", len(by), swarmInterruptClass, by)
		}
		for p, ws := range by {
			if len(ws) != 1 || !ids[ws[0]] {
				t.Errorf("participant %s has services %v; want exactly the one in the state", p, ws)
			}
		}
		run.run("destroy", "-auto-approve")
		if err := checkSwarmNone(c, workshop.LabelTemplate+"="+name)(nil); err != nil {
			t.Errorf("destroy left: %v", err)
		}
	}

	t.Run("sigkill-after-2", func(t *testing.T) {
		name, prefix := acctest.RandName("swintr"), acctest.RandName("p")
		run := newTFRun(t, bin, swarmClassConfig(host, name, prefix))
		t.Cleanup(func() {
			if t.Failed() {
				_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
				reconcile(name)
			}
		})
		cmd := run.command("apply", "-auto-approve", "-parallelism=3")
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		deadline := time.Now().Add(4 * time.Minute)
		for {
			_, complete := swarmWorkspaces(t, name)
			if len(complete) >= 2 {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the apply ended before 2 sessions were complete: %v\n%s", err, tail(out.String(), 3000))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("fewer than 2 sessions complete after 4 minutes\n%s", tail(out.String(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done //nolint:errcheck // killed: the exit error is expected
		took := waitPluginGone(t, bin, 5*time.Minute)
		inState := run.sessionIDs()
		by, complete := swarmWorkspaces(t, name)
		t.Logf("killed: plugin exited %s after terraform; %d sessions in state, %d participants with a service, %d complete",
			took.Round(100*time.Millisecond), len(inState), len(by), len(complete))
		run.run("apply", "-auto-approve", "-parallelism=3")
		check(t, run, name)
	})

	t.Run("hand-made-crashed-run", func(t *testing.T) {
		name, prefix := acctest.RandName("swintr"), acctest.RandName("p")
		run := newTFRun(t, bin, swarmClassConfig(host, name, prefix))
		t.Cleanup(func() {
			_, _ = run.command("destroy", "-auto-approve").CombinedOutput()
			reconcile(name)
		})
		run.run("apply", "-auto-approve", "-target=nalabo_workshop_template.t")
		tplID := run.templateID()
		b, err := swarmbackend.New(swarmbackend.Config{Host: host, SubnetPool: swarmTestPool})
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
			Resources: tpl.Resources, CreatedAt: now, Duration: 4 * time.Hour, ExpiresAt: now.Add(4 * time.Hour)}
		if _, err := b.CreateSession(ctx, lost); err != nil {
			t.Fatal(err)
		}
		// What a create killed after its network leaves: the overlay, no service.
		half := workshop.NewSessionID()
		labels := workshop.WithLabels(workshop.SessionLabels(half, prefix+"-01", name, now.Add(4*time.Hour)),
			workshop.LabelTemplateID, tpl.ID, workshop.LabelRole, workshop.RoleNetwork, workshop.LabelBackend, string(workshop.InfraSwarm))
		if _, err := c.NetworkCreate(ctx, "nalabo-swarm-"+half, network.CreateOptions{Driver: "overlay", Attachable: true, Labels: labels}); err != nil {
			t.Fatal(err)
		}

		run.run("apply", "-auto-approve", "-parallelism=3")
		if ids := run.sessionIDs(); !ids[lost.ID] {
			t.Errorf("the complete session %s beside the state was not adopted: state has %v", lost.ID, ids)
		}
		if n, err := acctest.SwarmCount(ctx, c, workshop.LabelSession+"="+half); err != nil || n != 0 {
			t.Errorf("the network-only remnant %s: %d objects left (%v); want it removed by the re-apply", half, n, err)
		}
		check(t, run, name)
	})
}
