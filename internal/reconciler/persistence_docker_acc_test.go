package reconciler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/kubernetes"
	"github.com/nalabo/terraform-provider-nalabo/internal/provider"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// providerFactories is the provider with the real backends.
func providerFactories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"nalabo": providerserver.NewProtocol6WithError(provider.New("test", provider.Backends{
			Docker:     func(c docker.Config) (workshop.Backend, error) { return docker.New(c) },
			Kubernetes: func(c kubernetes.Config) (workshop.Backend, error) { return kubernetes.New(c) },
		})()),
	}
}

// dockerTemplateHCL is a small docker template "t".
func dockerTemplateHCL(name string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    image = %q
  }
  resources           = { cpu = "250m", memory = "64Mi" }
}
`, name, acctest.ShellImage1)
}

// persistentSessionHCL is a persistent session "s" of template "t".
func persistentSessionHCL(participant, duration, state string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  duration    = %q
  state       = %q
  persistence = { size = "256Mi", retain_days = 1 }
}
`, participant, duration, state)
}

// persistentDockerConfig is a docker template and one persistent session.
func persistentDockerConfig(name, participant, duration, state string) string {
	return dockerTemplateHCL(name) + persistentSessionHCL(participant, duration, state)
}

// planAction expects one action on addr.
func planAction(addr string, a plancheck.ResourceActionType) resource.ConfigPlanChecks {
	return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, a)}}
}

// waitPast sleeps until created (RFC 3339) plus d is over.
func waitPast(t *testing.T, created string, d time.Duration) {
	t.Helper()
	c, err := time.Parse(time.RFC3339, created)
	if err != nil {
		t.Fatalf("created_at %q: %v", created, err)
	}
	if w := time.Until(c.Add(d + time.Second)); w > 0 {
		t.Logf("waiting %s so that a %s duration is over", w.Round(time.Second), d)
		time.Sleep(w)
	}
}

// defaultDocker is a Docker backend with the provider's default settings.
func defaultDocker(t *testing.T) *docker.Backend {
	t.Helper()
	b, err := docker.New(docker.Config{Host: os.Getenv("DOCKER_HOST")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// sessionExec runs a shell script in a session's workspace.
func sessionExec(b workshop.Backend, id, script string) (*workshop.ExecResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return b.Exec(ctx, id, &workshop.ExecRequest{Command: []string{"/bin/sh", "-c", script}})
}

// checkExec is a check that script prints want in the session.
func checkExec(b workshop.Backend, id *string, script, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		r, err := sessionExec(b, *id, script)
		if err != nil {
			return fmt.Errorf("exec %q: %w", script, err)
		}
		if r.ExitCode != 0 || strings.TrimSpace(r.Stdout) != want {
			return fmt.Errorf("exec %q: exit %d, stdout %q (want %q), stderr %q", script, r.ExitCode, r.Stdout, want, r.Stderr)
		}
		return nil
	}
}

// runningContainers counts the session's containers that run.
func runningContainers(t *testing.T, id string) (running, all int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := acctest.Client(t).ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", workshop.LabelSession+"="+id))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.State == container.StateRunning {
			running++
		}
	}
	return running, len(list)
}

// checkStopped checks that the session's containers exist and none runs.
func checkStopped(t *testing.T, id *string, stopped bool) resource.TestCheckFunc {
	return func(*terraform.State) error {
		running, all := runningContainers(t, *id)
		switch {
		case all == 0:
			return fmt.Errorf("session %s has no container", *id)
		case stopped && running > 0:
			return fmt.Errorf("session %s: %d of %d containers still run", *id, running, all)
		case !stopped && running != all:
			return fmt.Errorf("session %s: %d of %d containers run", *id, running, all)
		}
		return nil
	}
}

// volumeFile reads a file of a Docker volume with a throw-away container (the session's
// own containers are stopped).
func volumeFile(t *testing.T, vol, file string) string {
	t.Helper()
	out, err := exec.Command("docker", "run", "--rm", "--network", "none", "-v", vol+":/home-of-session:ro",
		acctest.ShellImage1, "cat", "/home-of-session/"+file).CombinedOutput()
	if err != nil {
		t.Fatalf("read %s from volume %s: %v\n%s", file, vol, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestAccPersistenceDocker is the story of a persistent home through the real Terraform
// CLI, the Docker engine and the reconciler: a file written in the session survives
// state = "stopped" (containers stopped, exec refused) and "running"; at expiry a
// reconciler pass stops the session and keeps its data while the same pass deletes an
// expired session without persistence (the positive control); once retain_days are
// over, a pass deletes the session and its data, and the state keeps it as expired.
func TestAccPersistenceDocker(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	acctest.RequireTerraform(t)
	name := acctest.RandName("persist-acc")
	participant := acctest.RandName("ada")
	control := acctest.RandName("bob")
	const addr = "nalabo_workshop_session.s"
	b := defaultDocker(t)
	var id, templateID, createdAt, expiresAt string
	record := func(s *terraform.State) error {
		a := s.RootModule().Resources[addr].Primary.Attributes
		id, templateID, createdAt, expiresAt = a["id"], a["template_id"], a["created_at"], a["expires_at"]
		return nil
	}
	vol := func() string { return workspaceVolume(id) }
	pass := func(now time.Time) PassResult { t.Helper(); return passAt(t, name, b, now) }
	// resumed is a step that applies state = "running" with a 2h duration in place: the
	// same session runs and the file written first is back.
	resumed := func() resource.TestStep {
		return resource.TestStep{
			Config:           persistentDockerConfig(name, participant, "2h", "running"),
			ConfigPlanChecks: planAction(addr, plancheck.ResourceActionUpdate),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttrPtr(addr, "id", &id),
				resource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
				checkStopped(t, &id, false),
				checkExec(b, &id, "cat /workspace/notes.txt", "kept-across-stops"),
			),
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: providerFactories(),
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant, control}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: persistentDockerConfig(name, participant, "2h", "running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					record,
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
					resource.TestCheckResourceAttr(addr, "state", workshop.StateRunning),
					resource.TestCheckResourceAttr(addr, "persistence.size", "256Mi"),
					resource.TestCheckResourceAttr(addr, "persistence.retain_days", "1"),
					checkExec(b, &id, "echo kept-across-stops > /workspace/notes.txt && cat /workspace/notes.txt", "kept-across-stops"),
				),
			},
			{
				// Stopped in place: the same session (update, not replace), its
				// containers stopped, a command refused with a clear error.
				Config:           persistentDockerConfig(name, participant, "2h", "stopped"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPtr(addr, "id", &id),
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusStopped),
					checkStopped(t, &id, true),
					func(*terraform.State) error {
						_, err := sessionExec(b, id, "true")
						if err == nil || !strings.Contains(err.Error(), "is stopped") {
							return fmt.Errorf("exec in a stopped session: %v, want an error saying it is stopped", err)
						}
						return nil
					},
				),
			},
			{
				// Stays stopped: a refresh reads "stopped", nothing to do.
				Config:   persistentDockerConfig(name, participant, "2h", "stopped"),
				PlanOnly: true,
			},
			resumed(), // resumed in place; the file is back
			{
				// A 1-minute duration: expired once applied (in place).
				PreConfig:        func() { waitPast(t, createdAt, time.Minute) },
				Config:           persistentDockerConfig(name, participant, "1m", "running"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionUpdate),
				Check: resource.ComposeAggregateTestCheckFunc(
					record,
					resource.TestCheckResourceAttrPtr(addr, "id", &id),
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
				),
			},
			{
				// The reconciler at expiry: the persistent session is stopped, not
				// deleted, its data kept; the control session without persistence
				// (expired an hour ago) is deleted by the same pass.
				PreConfig: func() {
					tpl, err := b.GetTemplate(context.Background(), templateID)
					if err != nil {
						t.Fatal(err)
					}
					ctl := createDockerSession(t, b, tpl, control, time.Now().Add(-2*time.Hour), time.Hour)
					res := pass(time.Now())
					if strings.Join(res.Stopped, ",") != id || strings.Join(res.Reaped, ",") != ctl {
						t.Fatalf("pass at expiry: stopped %v (want [%s]), reaped %v (want [%s])", res.Stopped, id, res.Reaped, ctl)
					}
					if n := acctest.CountLabelled(t, workshop.LabelSession+"="+ctl); n.Total() != 0 {
						t.Fatalf("the control session left objects behind: %s", n)
					}
					if got := volumeFile(t, vol(), "notes.txt"); got != "kept-across-stops" {
						t.Fatalf("data of the stopped session: %q", got)
					}
					// A second pass has nothing to do.
					if res := pass(time.Now()); len(res.Stopped)+len(res.Reaped) != 0 {
						t.Fatalf("second pass: stopped %v, reaped %v", res.Stopped, res.Reaped)
					}
				},
				Config:           persistentDockerConfig(name, participant, "1m", "running"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionNoop),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
					resource.TestCheckResourceAttr(addr, "state", workshop.StateRunning),
					checkStopped(t, &id, true),
				),
			},
			resumed(), // within the retention a longer duration resumes it in place, its data back
			{
				// Expired again (the reconciler stops it below).
				Config: persistentDockerConfig(name, participant, "1m", "running"),
				Check: resource.ComposeAggregateTestCheckFunc(
					record,
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
				),
			},
			{
				// Retention over: the session and its data are deleted; the state keeps
				// it as expired (no re-creation planned).
				PreConfig: func() {
					exp, err := time.Parse(time.RFC3339, expiresAt)
					if err != nil {
						t.Fatalf("expires_at %q: %v", expiresAt, err)
					}
					if res := pass(exp.Add(23 * time.Hour)); len(res.Reaped) != 0 || strings.Join(res.Stopped, ",") != id {
						t.Fatalf("pass within the retention: reaped %v (want none), stopped %v (want [%s])", res.Reaped, res.Stopped, id)
					}
					if got := volumeFile(t, vol(), "notes.txt"); got != "kept-across-stops" {
						t.Fatalf("data of the stopped session: %q", got)
					}
					if res := pass(exp.Add(24*time.Hour + time.Minute)); strings.Join(res.Reaped, ",") != id {
						t.Fatalf("pass after the retention: reaped %v, want [%s]", res.Reaped, id)
					}
					if n := acctest.CountLabelled(t, workshop.LabelSession+"="+id); n.Total() != 0 {
						t.Fatalf("the retained session left objects behind: %s", n)
					}
				},
				Config:           persistentDockerConfig(name, participant, "1m", "running"),
				ConfigPlanChecks: planAction(addr, plancheck.ResourceActionNoop),
				Check:            resource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
			},
		},
	})
}

// workspaceVolume is the Docker volume of a session's home.
func workspaceVolume(id string) string { return workshop.SessionObjectName(id) + "-workspace" }

// TestAccPersistenceDockerDestroy: a persistent session created stopped can neither be
// exec'ed into nor reached from another session (its volume is mounted by its own
// workspace only), and destroy removes its retained data with everything else.
func TestAccPersistenceDockerDestroy(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	acctest.RequireTerraform(t)
	name := acctest.RandName("persist-acc")
	ada, bob := acctest.RandName("ada"), acctest.RandName("bob")
	b := defaultDocker(t)
	ids := map[string]*string{"a": new(string), "b": new(string)}
	config := dockerTemplateHCL(name) + fmt.Sprintf(`
resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  state       = "stopped"
  persistence = { size = "256Mi" }
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  persistence = { size = "256Mi" }
}
`, ada, bob)
	var volA string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: providerFactories(),
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			acctest.CheckDestroy(t, []string{ada, bob}, []string{name}),
			func(*terraform.State) error {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := acctest.Client(t).VolumeInspect(ctx, volA); err == nil {
					return fmt.Errorf("volume %s (the retained home) is still there after destroy", volA)
				}
				return nil
			},
		),
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", workshop.StatusStopped),
				resource.TestCheckResourceAttr("nalabo_workshop_session.a", "state", workshop.StateStopped),
				resource.TestCheckResourceAttr("nalabo_workshop_session.a", "persistence.retain_days", fmt.Sprint(workshop.DefaultRetainDays)),
				resource.TestCheckResourceAttr("nalabo_workshop_session.b", "status", workshop.StatusRunning),
				func(s *terraform.State) error {
					for k, p := range ids {
						*p = s.RootModule().Resources["nalabo_workshop_session."+k].Primary.ID
					}
					volA = workspaceVolume(*ids["a"])
					return nil
				},
				checkStopped(t, ids["a"], true),
				func(*terraform.State) error {
					// The stopped session refuses commands (positive control: b runs them).
					if _, err := sessionExec(b, *ids["a"], "true"); err == nil || !regexp.MustCompile(`is stopped`).MatchString(err.Error()) {
						return fmt.Errorf("exec in the stopped session: %v", err)
					}
					if r, err := sessionExec(b, *ids["b"], "echo ok"); err != nil || strings.TrimSpace(r.Stdout) != "ok" {
						return fmt.Errorf("exec in the running session: %v %+v", err, r)
					}
					// Only a's workspace mounts a's home; b sees no trace of it.
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					users, err := acctest.Client(t).ContainerList(ctx, container.ListOptions{All: true,
						Filters: filters.NewArgs(filters.Arg("volume", volA))})
					if err != nil {
						return err
					}
					if len(users) != 1 || users[0].Labels[workshop.LabelSession] != *ids["a"] {
						return fmt.Errorf("volume %s is mounted by %d containers: %+v", volA, len(users), users)
					}
					// Positive control: b's own home shows in its mounts.
					r, err := sessionExec(b, *ids["b"], "grep -c "+*ids["b"]+" /proc/self/mountinfo || true")
					if err != nil || strings.TrimSpace(r.Stdout) == "0" {
						return fmt.Errorf("session b's mounts do not name its own home: %v %+v", err, r)
					}
					r, err = sessionExec(b, *ids["b"], "grep -c "+*ids["a"]+" /proc/self/mountinfo || true")
					if err != nil || strings.TrimSpace(r.Stdout) != "0" {
						return fmt.Errorf("session b's mounts name session a: %v %+v", err, r)
					}
					return nil
				},
			),
		}},
	})
}
