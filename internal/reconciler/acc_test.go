package reconciler

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestAccReconcilerReapedSessionIsExpired is the whole story through the real
// Terraform CLI: a session with a 1-minute duration is applied; once it expired the
// reconciler (grace 0) reaps it and nothing labelled with it is left; the next plan
// proposes no re-creation and the refreshed state says status "expired"; raising its
// duration replaces it, and it runs again.
func TestAccReconcilerReapedSessionIsExpired(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	acctest.RequireTerraform(t)
	name := acctest.RandName("rtest-acc")
	participant := acctest.RandName("ada")
	const addr = "nalabo_workshop_session.s"
	config := func(duration string) string {
		return dockerTemplateHCL(name) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  duration    = %q
}
`, participant, duration)
	}
	var id, expiresAt string
	reap := func() {
		exp, err := time.Parse(time.RFC3339, expiresAt)
		if err != nil {
			t.Fatalf("expires_at %q: %v", expiresAt, err)
		}
		if d := time.Until(exp); d > 0 {
			t.Logf("waiting %s for the session to expire", d.Round(time.Second)+time.Second)
			time.Sleep(d + time.Second)
		}
		b, err := docker.New(docker.Config{Host: os.Getenv("DOCKER_HOST")})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		cfg := testConfig(name)
		r := New(cfg, []workshop.Backend{b}, nil, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		res := r.RunOnce(ctx)[0]
		if err := res.Err(); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
		if strings.Join(res.Reaped, ",") != id {
			t.Fatalf("reaped %v, want [%s]", res.Reaped, id)
		}
		if n := acctest.CountLabelled(t, workshop.LabelSession+"="+id); n.Total() != 0 {
			t.Fatalf("the reaped session left objects behind: %s", n)
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { acctest.PreCheck(t) },
		ProtoV6ProviderFactories: providerFactories(),
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: config("1m"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
					func(s *terraform.State) error {
						rs := s.RootModule().Resources[addr]
						id, expiresAt = rs.Primary.ID, rs.Primary.Attributes["expires_at"]
						return nil
					},
				),
			},
			{
				// Reaped: the plan keeps the session (no create, no replace) and the
				// refreshed state says expired.
				PreConfig: reap,
				Config:    config("1m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionNoop)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusExpired),
					func(s *terraform.State) error {
						if got := s.RootModule().Resources[addr].Primary.ID; got != id {
							return fmt.Errorf("id changed from %s to %s", id, got)
						}
						return nil
					},
				),
			},
			{
				// Still expired on a second plan: nothing to do.
				Config:             config("1m"),
				PlanOnly:           true,
				ExpectNonEmptyPlan: false,
			},
			{
				// A longer duration brings it back: the session is replaced and runs.
				Config: config("2h"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionReplace)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
					resource.TestCheckResourceAttr(addr, "duration", "2h"),
					func(s *terraform.State) error {
						if got := s.RootModule().Resources[addr].Primary.ID; got == id {
							return fmt.Errorf("the session was not replaced (id %s)", got)
						}
						return nil
					},
				),
			},
		},
	})
}
