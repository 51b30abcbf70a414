package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

const mi = 1024 * 1024

// sessionConfig is a template, one session and an exec that reads /VERSION.
func sessionConfig(templateName, image, participant, sessionExtra string) string {
	return dockerTemplateConfig("t", templateName, image, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
%s
}

resource "nalabo_exec" "version" {
  session_id = nalabo_workshop_session.s.id
  command    = ["cat", "/VERSION"]
}
`, participant, sessionExtra)
}

func TestAccWorkshopSession_lifecycle(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("sess")
	participant := acctest.RandName("ada")
	const addr = "nalabo_workshop_session.s"
	var sessionID string
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				// Inherits cpu and memory from the template, storage and duration from
				// the defaults.
				Config: sessionConfig(name, acctest.ShellImage1, participant, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr(addr, "id", sessionIDRE),
					captureAttr(addr, "id", &sessionID),
					func(s *terraform.State) error {
						return resource.ComposeAggregateTestCheckFunc(
							resource.TestCheckResourceAttr(addr, "workspace_name", workshop.SessionObjectName(sessionID)),
							resource.TestCheckResourceAttr(addr, "network_name", "nalabo-network-"+sessionID),
							resource.TestCheckResourceAttr(addr, "containers.0", workshop.SessionObjectName(sessionID)),
						)(s)
					},
					resource.TestCheckResourceAttr(addr, "participant", participant),
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
					resource.TestCheckResourceAttr(addr, "infrastructure_type", "docker"),
					resource.TestCheckResourceAttr(addr, "template_name", name),
					resource.TestCheckResourceAttrPair(addr, "template_id", "nalabo_workshop_template.t", "id"),
					resource.TestCheckResourceAttr(addr, "effective_resources.cpu", "250m"),
					resource.TestCheckResourceAttr(addr, "effective_resources.memory", "64Mi"),
					resource.TestCheckResourceAttr(addr, "effective_resources.storage", "10Gi"),
					resource.TestCheckNoResourceAttr(addr, "resources.%"),
					resource.TestCheckResourceAttr(addr, "duration", "4h"),
					resource.TestMatchResourceAttr(addr, "created_at", timestampRE),
					resource.TestMatchResourceAttr(addr, "expires_at", timestampRE),
					checkLifetime(addr, 4*time.Hour),
					resource.TestCheckResourceAttrSet(addr, "storage_enforced"),
					resource.TestCheckNoResourceAttr(addr, "namespace"),
					resource.TestCheckNoResourceAttr(addr, "kubeconfig"),
					checkLimits(t, addr, 250, 64*mi),
					checkCount(t, 1, 1, workshop.LabelParticipant+"="+participant),
					resource.TestCheckResourceAttr("nalabo_exec.version", "stdout", "1\n"),
				),
			},
			{
				// CPU, memory and duration change in place.
				Config: sessionConfig(name, acctest.ShellImage1, participant, `
  resources = { cpu = "500m", memory = "128Mi" }
  duration  = "3h"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
						plancheck.ExpectResourceAction("nalabo_exec.version", plancheck.ResourceActionNoop),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals(addr, "id", &sessionID),
					resource.TestCheckResourceAttr(addr, "effective_resources.cpu", "500m"),
					resource.TestCheckResourceAttr(addr, "effective_resources.memory", "128Mi"),
					resource.TestCheckResourceAttr(addr, "duration", "3h"),
					checkLifetime(addr, 3*time.Hour),
					checkLimits(t, addr, 500, 128*mi),
				),
			},
			{
				// resources is configuration only: an imported session has none.
				ResourceName:            addr,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"resources."},
			},
			{
				// A removed setting goes back to the inherited value, in place.
				Config: sessionConfig(name, acctest.ShellImage1, participant, `
  resources = { memory = "128Mi" }
  duration  = "3h"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals(addr, "id", &sessionID),
					resource.TestCheckResourceAttr(addr, "effective_resources.cpu", "250m"),
					checkLimits(t, addr, 250, 128*mi),
				),
			},
			{
				// A new template digest replaces the session.
				Config: sessionConfig(name, acctest.ShellImage2, participant, `
  resources = { memory = "128Mi" }
  duration  = "3h"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectResourceAction("nalabo_exec.version", plancheck.ResourceActionDestroyBeforeCreate),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrChanged(addr, "id", &sessionID),
					resource.TestCheckResourceAttr("nalabo_exec.version", "stdout", "2\n"),
					checkCount(t, 1, 1, workshop.LabelParticipant+"="+participant),
					func(s *terraform.State) error {
						return acctest.CheckNoneLabelled(t, workshop.LabelSession+"="+sessionID)(s)
					},
				),
			},
			{
				// Storage cannot change in place on Docker.
				Config: sessionConfig(name, acctest.ShellImage2, participant, `
  resources = { memory = "128Mi", storage = "1Gi" }
  duration  = "3h"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionDestroyBeforeCreate)},
				},
				Check: resource.TestCheckResourceAttr(addr, "effective_resources.storage", "1Gi"),
			},
		},
	})
}

// TestAccWorkshopSession_drift: limits changed and the workspace removed outside
// Terraform show in the next plan, and the next apply repairs them.
func TestAccWorkshopSession_drift(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("drift")
	participant := acctest.RandName("linus")
	const addr = "nalabo_workshop_session.s"
	config := sessionConfig(name, acctest.ShellImage1, participant, `  resources = { cpu = "300m" }`)
	var sessionID string
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					captureAttr(addr, "id", &sessionID),
					checkLimits(t, addr, 300, 64*mi),
				),
			},
			{
				// docker update: both the configured cpu and the inherited memory drift.
				PreConfig: func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					_, err := acctest.Client(t).ContainerUpdate(ctx, workshop.SessionObjectName(sessionID), container.UpdateConfig{
						Resources: container.Resources{NanoCPUs: 700e6, Memory: 96 * mi, MemorySwap: 96 * mi},
					})
					if err != nil {
						t.Fatalf("docker update: %v", err)
					}
				},
				RefreshState:       true,
				ExpectNonEmptyPlan: true,
				RefreshPlanChecks: resource.RefreshPlanChecks{
					PostRefresh: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "effective_resources.cpu", "700m"),
					resource.TestCheckResourceAttr(addr, "effective_resources.memory", "96Mi"),
				),
			},
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals(addr, "id", &sessionID),
					resource.TestCheckResourceAttr(addr, "effective_resources.cpu", "300m"),
					resource.TestCheckResourceAttr(addr, "effective_resources.memory", "64Mi"),
					checkLimits(t, addr, 300, 64*mi),
				),
			},
			{
				// The workspace container removed by hand: the session is replaced.
				PreConfig:          func() { acctest.RemoveContainer(t, workshop.SessionObjectName(sessionID)) },
				RefreshState:       true,
				ExpectNonEmptyPlan: true,
				RefreshPlanChecks: resource.RefreshPlanChecks{
					PostRefresh: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionReplace)},
				},
				Check: resource.TestCheckResourceAttr(addr, "status", workshop.StatusDegraded),
			},
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrChanged(addr, "id", &sessionID),
					resource.TestCheckResourceAttr(addr, "status", workshop.StatusRunning),
					resource.TestCheckResourceAttr("nalabo_exec.version", "stdout", "1\n"),
					checkCount(t, 1, 1, workshop.LabelParticipant+"="+participant),
					func(s *terraform.State) error {
						// The remains of the old session were cleaned up.
						return acctest.CheckNoneLabelled(t, workshop.LabelSession+"="+sessionID)(s)
					},
				),
			},
		},
	})
}

// TestAccWorkshopSession_class40 applies a class of 40 in one apply: every session gets
// its own network without exhausting Docker's address pools, and destroy leaves nothing.
func TestAccWorkshopSession_class40(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("class")
	prefix := acctest.RandName("p")
	var participants []string
	for i := 0; i < 40; i++ {
		participants = append(participants, fmt.Sprintf("%s-%02d", prefix, i))
	}
	// count, not for_each: terraform-plugin-testing's state shim rejects string keys.
	config := dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
locals {
  participants = %s
}

resource "nalabo_workshop_session" "s" {
  count       = length(local.participants)
  template_id = nalabo_workshop_template.t.id
  participant = local.participants[count.index]
  resources   = { cpu = "100m", memory = "32Mi" }
  duration    = "1h"
}
`, hclList(participants...))
	var start time.Time
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, participants, []string{name}),
		Steps: []resource.TestStep{
			{
				PreConfig: func() { start = time.Now() },
				Config:    config,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkCount(t, 40, 40, workshop.LabelTemplate+"="+name),
					func(s *terraform.State) error {
						running := 0
						for addr, rs := range s.RootModule().Resources {
							if strings.HasPrefix(addr, "nalabo_workshop_session.s.") && rs.Primary.Attributes["status"] == workshop.StatusRunning {
								running++
							}
						}
						if running != 40 {
							return fmt.Errorf("%d sessions running, want 40", running)
						}
						t.Logf("class of 40: plan, apply and refresh in %s", time.Since(start).Round(time.Second))
						return nil
					},
				),
			},
		},
	})
}
