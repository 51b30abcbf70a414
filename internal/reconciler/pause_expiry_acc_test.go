package reconciler

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// pauseEnv is what the expiry-pause story needs of a backend.
type pauseEnv struct {
	name string           // template name
	head string           // provider and template "t" HCL
	b    workshop.Backend // to read the sessions and run commands in them
	home string           // the workspace's home directory (persistent)
	// destroyed checks that nothing of the sessions is left.
	destroyed resource.TestCheckFunc
}

// pauseSessionsHCL is session "p" (its expiry pauses) and the control "c" (it does
// not), both persistent with a 2-minute lifetime, in state.
func pauseSessionsHCL(p, c, duration, state string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_session" "p" {
  template_id = nalabo_workshop_template.t.id
  participant = %[1]q
  duration    = %[3]q
  state       = %[4]q
  persistence = { size = "256Mi", retain_days = 1, pause_expiry = true }
}

resource "nalabo_workshop_session" "c" {
  template_id = nalabo_workshop_template.t.id
  participant = %[2]q
  duration    = "2m"
  state       = %[4]q
  persistence = { size = "256Mi", retain_days = 1 }
}
`, p, c, duration, state)
}

// testPauseExpiry is the story of persistence.pause_expiry through the real Terraform
// CLI and backend: both sessions are stopped before they expire; past their 2 minutes,
// the paused one is still "stopped" (not expired), and a reconciler pass leaves both
// alone, while the control reads "expired" (the positive control); resuming moves the
// paused session's expires_at by the time it stayed stopped, its file is back, the next
// plan is empty (the moved expiry is not undone), and a longer duration keeps the pause
// on top; the control, expired, does not resume.
func testPauseExpiry(t *testing.T, env pauseEnv) {
	acctest.RequireTerraform(t)
	ada, bob := acctest.RandName("ada"), acctest.RandName("bob")
	const p, c = "nalabo_workshop_session.p", "nalabo_workshop_session.c"
	config := func(duration, state string) string { return env.head + pauseSessionsHCL(ada, bob, duration, state) }
	var id, cid, createdAt, firstExpiry, resumedExpiry string
	var stoppedBy time.Time // when the stop step was over
	attrs := func(s *terraform.State, addr string) map[string]string {
		return s.RootModule().Resources[addr].Primary.Attributes
	}
	live := func(id string) (*workshop.Session, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return env.b.GetSession(ctx, id)
	}
	file := env.home + "/notes.txt"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: providerFactories(),
		CheckDestroy:             env.destroyed,
		Steps: []resource.TestStep{
			{
				Config: config("2m", "running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(s *terraform.State) error {
						a := attrs(s, p)
						id, cid, createdAt, firstExpiry = a["id"], attrs(s, c)["id"], a["created_at"], a["expires_at"]
						return nil
					},
					resource.TestCheckResourceAttr(p, "persistence.pause_expiry", "true"),
					resource.TestCheckResourceAttr(c, "persistence.pause_expiry", "false"),
					checkExec(env.b, &id, "echo paused-not-lost > "+file+" && cat "+file, "paused-not-lost"),
				),
			},
			{
				// Both stopped before their expiry: only p records the pause.
				Config:           config("2m", "stopped"),
				ConfigPlanChecks: planAction(p, plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(p, "status", workshop.StatusStopped),
					resource.TestCheckResourceAttrPtr(p, "expires_at", &firstExpiry),
					func(*terraform.State) error {
						stoppedBy = time.Now()
						ps, err := live(id)
						if err != nil {
							return err
						}
						cs, err := live(cid)
						if err != nil {
							return err
						}
						if ps.StoppedAt.IsZero() || !workshop.ExpiryPaused(ps) {
							return fmt.Errorf("session p stopped at %s before its expiry %s: no pause recorded (stopped %v)",
								stoppedBy.Format(time.RFC3339), firstExpiry, ps.Stopped)
						}
						if !cs.StoppedAt.IsZero() {
							return fmt.Errorf("control session c (no pause_expiry) recorded a pause at %s", cs.StoppedAt)
						}
						return nil
					},
				),
			},
			{
				// Past the 2 minutes: p is stopped, not expired; the control expired. A
				// reconciler pass stops and deletes nothing (both are stopped, within
				// their retention).
				PreConfig: func() {
					waitPast(t, createdAt, 2*time.Minute)
					if res := passAt(t, env.name, env.b, time.Now()); len(res.Stopped)+len(res.Reaped) != 0 {
						t.Fatalf("pass past expiry: stopped %v, reaped %v (want none)", res.Stopped, res.Reaped)
					}
				},
				Config: config("2m", "stopped"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(p, "status", workshop.StatusStopped),
					resource.TestCheckResourceAttr(p, "state", workshop.StateStopped),
					resource.TestCheckResourceAttr(c, "status", workshop.StatusExpired),
				),
			},
			{
				// Resumed: p runs again with its expiry moved by the time it stayed
				// stopped (at least from the end of the stop step to now); the control,
				// expired, stays stopped.
				Config: config("2m", "running"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(p, plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue(p, tfjsonpath.New("expires_at")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPtr(p, "id", &id),
					resource.TestCheckResourceAttr(p, "status", workshop.StatusRunning),
					resource.TestCheckResourceAttr(c, "status", workshop.StatusExpired),
					checkExec(env.b, &id, "cat "+file, "paused-not-lost"),
					func(s *terraform.State) error {
						resumedExpiry = attrs(s, p)["expires_at"]
						first, err1 := time.Parse(time.RFC3339, firstExpiry)
						got, err2 := time.Parse(time.RFC3339, resumedExpiry)
						if err1 != nil || err2 != nil {
							return fmt.Errorf("expires_at %q then %q", firstExpiry, resumedExpiry)
						}
						if moved, least := got.Sub(first), time.Since(stoppedBy)-5*time.Second; moved < least || moved > least+5*time.Minute {
							return fmt.Errorf("expires_at moved by %s on resume, want at least %s (the time stopped)", moved, least)
						}
						ps, err := live(id)
						if err != nil {
							return err
						}
						if !ps.StoppedAt.IsZero() || !ps.ExpiresAt.Equal(got) {
							return fmt.Errorf("live session after resume: stopped-at %s, expiry %s (want none, %s)", ps.StoppedAt, ps.ExpiresAt, got)
						}
						return nil
					},
				),
			},
			// The moved expiry is not undone by the next plan.
			{Config: config("2m", "running"), PlanOnly: true},
			{
				// A longer duration keeps the paused time on top.
				Config:           config("3m", "running"),
				ConfigPlanChecks: planAction(p, plancheck.ResourceActionUpdate),
				Check: func(s *terraform.State) error {
					before, _ := time.Parse(time.RFC3339, resumedExpiry)
					got := attrs(s, p)["expires_at"]
					if want := before.Add(time.Minute).UTC().Format(time.RFC3339); got != want {
						return fmt.Errorf("expires_at with duration 3m: %s, want %s", got, want)
					}
					return nil
				},
			},
		},
	})
}

// TestAccPersistencePauseExpiryDocker: testPauseExpiry on the Docker engine.
func TestAccPersistencePauseExpiryDocker(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	name := acctest.RandName("pause-acc")
	testPauseExpiry(t, pauseEnv{
		name: name, head: dockerTemplateHCL(name), b: defaultDocker(t), home: "/workspace",
		destroyed: acctest.CheckDestroy(t, nil, []string{name}),
	})
}

// TestAccPersistencePauseExpiryKubernetes: testPauseExpiry on a namespace session of
// the test cluster (the homes are claims bound to hostPath volumes made here).
func TestAccPersistencePauseExpiryKubernetes(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	kubeconfig := kubeconfigPath(t)
	cs := clientset(t)
	name := acctest.RandName("pause-kacc")
	b, err := kubernetes.New(kubernetes.Config{ConfigPath: kubeconfig, Namespace: "nalabo-acc"})
	if err != nil {
		t.Fatal(err)
	}
	homeVolumeForTest(t, cs, name+"-p")
	homeVolumeForTest(t, cs, name+"-c")
	testPauseExpiry(t, pauseEnv{
		name: name, head: persistentKubernetesTemplate(kubeconfig, name), b: b, home: "/home/nalabo",
		destroyed: func(*terraform.State) error {
			if n := countSessionNamespaces(t, cs, name); n != 0 {
				return fmt.Errorf("%d session namespaces of template %s left after destroy", n, name)
			}
			return nil
		},
	})
}
