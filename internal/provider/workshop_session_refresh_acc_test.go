package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestAccWorkshopSession_classRefresh: a class is refreshed by reads that share one
// listing (the Docker backend's snapshot); the plan of an unchanged class is empty, and
// changes made outside Terraform between two plans show in the next one: a stopped
// workspace reads stopped, a removed one degraded (replace), the others stay as they
// are. A session is created without a lease volume; a new duration makes one.
func TestAccWorkshopSession_classRefresh(t *testing.T) {
	testAccSetup(t)
	const n = 6
	name := acctest.RandName("refresh")
	prefix := acctest.RandName("r")
	var participants []string
	for i := 0; i < n; i++ {
		participants = append(participants, fmt.Sprintf("%s-%02d", prefix, i))
	}
	config := func(durations string) string {
		return dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
locals {
  participants = %s
  durations    = %s
}

resource "nalabo_workshop_session" "s" {
  count       = length(local.participants)
  template_id = nalabo_workshop_template.t.id
  participant = local.participants[count.index]
  resources   = { cpu = "100m", memory = "32Mi" }
  duration    = local.durations[count.index]
}
`, hclList(participants...), durations)
	}
	base := config(`["1h", "1h", "1h", "1h", "1h", "1h"]`)
	// The state shim's address (s.N) and the plan's (s[N]).
	addr := func(i int) string { return fmt.Sprintf("nalabo_workshop_session.s.%d", i) }
	planAddr := func(i int) string { return fmt.Sprintf("nalabo_workshop_session.s[%d]", i) }
	ids := make([]string, n)
	var captures []resource.TestCheckFunc
	for i := range ids {
		captures = append(captures, captureAttr(addr(i), "id", &ids[i]))
	}
	leases := func(want int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			if got := countLeases(t, name); got != want {
				return fmt.Errorf("%d lease volumes for template %s, want %d", got, name, want)
			}
			return nil
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, participants, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: base,
				Check: resource.ComposeAggregateTestCheckFunc(append(captures,
					checkCount(t, n, n, workshop.LabelTemplate+"="+name),
					leases(0),
				)...),
			},
			// Nothing changed: the refresh of the class plans nothing.
			{Config: base, PlanOnly: true},
			{
				// Changed outside Terraform: one workspace stopped, one removed.
				PreConfig: func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if err := acctest.Client(t).ContainerStop(ctx, workshop.SessionObjectName(ids[1]), container.StopOptions{}); err != nil {
						t.Fatalf("docker stop: %v", err)
					}
					acctest.RemoveContainer(t, workshop.SessionObjectName(ids[3]))
				},
				RefreshState:       true,
				ExpectNonEmptyPlan: true,
				RefreshPlanChecks: resource.RefreshPlanChecks{
					PostRefresh: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(planAddr(3), plancheck.ResourceActionReplace),
						plancheck.ExpectResourceAction(planAddr(0), plancheck.ResourceActionNoop),
						plancheck.ExpectResourceAction(planAddr(5), plancheck.ResourceActionNoop),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr(1), "status", workshop.StatusStopped),
					resource.TestCheckResourceAttr(addr(3), "status", workshop.StatusDegraded),
					resource.TestCheckResourceAttr(addr(0), "status", workshop.StatusRunning),
					resource.TestCheckResourceAttr(addr(5), "status", workshop.StatusRunning),
				),
			},
			{
				// Repaired; one session's duration changes in place: its first lease.
				Config: config(`["1h", "1h", "1h", "1h", "1h", "2h"]`),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrChanged(addr(3), "id", &ids[3]),
					resource.TestCheckResourceAttr(addr(3), "status", workshop.StatusRunning),
					checkAttrEquals(addr(5), "id", &ids[5]),
					leases(1),
				),
			},
			{Config: config(`["1h", "1h", "1h", "1h", "1h", "2h"]`), PlanOnly: true},
		},
	})
}

// countLeases counts the lease volumes of a template's sessions.
func countLeases(t *testing.T, templateName string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := acctest.Client(t).VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue),
		filters.Arg("label", workshop.LabelTemplate+"="+templateName),
		filters.Arg("label", workshop.LabelRole+"="+workshop.RoleLease),
	)})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Volumes)
}
