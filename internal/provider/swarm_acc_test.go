package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Swarm acceptance tests run against the swarm-mode engine of scripts/swarm-up.sh,
// found through NALABO_SWARM_HOST; with NALABO_SWARM_TESTS=1 its absence fails them.

// swarmTestPool keeps these tests' overlays apart from the backend tests' (10.217/16).
const swarmTestPool = "10.218.0.0/16"

func swarmProviderConfig(host string) string {
	return fmt.Sprintf(`
provider "nalabo" {
  swarm {
    host        = %q
    subnet_pool = %q
  }
}
`, host, swarmTestPool)
}

func swarmTemplateConfig(name, extra string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "swarm"
  workspace {
    image = %q
  }
  resources = { cpu = "250m", memory = "64Mi" }
%s
}
`, name, acctest.ShellImage1, extra)
}

// checkSwarmNone fails when anything on the swarm carries one of the labels.
func checkSwarmNone(c *client.Client, labels ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for _, l := range labels {
			n, err := acctest.SwarmCount(context.Background(), c, l)
			if err != nil {
				return err
			}
			if n != 0 {
				return fmt.Errorf("%d objects labelled %s are left on the swarm", n, l)
			}
		}
		return nil
	}
}

// checkSwarmSome is checkSwarmNone's positive control: the live class is found by the
// same listing.
func checkSwarmSome(c *client.Client, label string, atLeast int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		n, err := acctest.SwarmCount(context.Background(), c, label)
		if err != nil {
			return err
		}
		if n < atLeast {
			return fmt.Errorf("only %d objects labelled %s on the swarm, want at least %d: the leftover check could not fail", n, label, atLeast)
		}
		return nil
	}
}

// checkSwarmService checks the workspace service of a session in the state: its limits,
// reservations and hardening as Swarm holds them (service inspect).
func checkSwarmService(c *client.Client, addr string, milliCPU, memory int64, constraints []string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		name := workshop.SessionObjectName(rs.Primary.ID)
		svc, _, err := c.ServiceInspectWithRaw(context.Background(), name, swarm.ServiceInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect service %s: %w", name, err)
		}
		tt := svc.Spec.TaskTemplate
		r := tt.Resources
		var errs []string
		if r == nil || r.Limits == nil || r.Reservations == nil {
			return fmt.Errorf("service %s has no limits and reservations: %+v", name, r)
		}
		if r.Limits.NanoCPUs != milliCPU*1e6 || r.Limits.MemoryBytes != memory || r.Limits.Pids <= 0 {
			errs = append(errs, fmt.Sprintf("limits %+v, want %dm CPU, %d bytes, a pids limit", *r.Limits, milliCPU, memory))
		}
		if r.Reservations.NanoCPUs != milliCPU*1e6 || r.Reservations.MemoryBytes != memory {
			errs = append(errs, fmt.Sprintf("reservations %+v", *r.Reservations))
		}
		cs := tt.ContainerSpec
		if cs == nil || len(cs.CapabilityDrop) != 1 || cs.CapabilityDrop[0] != "ALL" || (cs.Privileges != nil && cs.Privileges.CredentialSpec != nil) {
			errs = append(errs, fmt.Sprintf("container spec not hardened: %+v", cs))
		}
		if tt.RestartPolicy == nil || tt.RestartPolicy.Condition != swarm.RestartPolicyConditionAny {
			errs = append(errs, fmt.Sprintf("restart policy %+v", tt.RestartPolicy))
		}
		if got := tt.Placement; got == nil || strings.Join(got.Constraints, ",") != strings.Join(constraints, ",") {
			errs = append(errs, fmt.Sprintf("placement %+v, want constraints %q", got, constraints))
		}
		if len(tt.Networks) != 1 || svc.Spec.Labels[workshop.LabelSession] != rs.Primary.ID {
			errs = append(errs, fmt.Sprintf("networks %+v, labels %v", tt.Networks, svc.Spec.Labels))
		}
		if len(errs) > 0 {
			return fmt.Errorf("service %s: %s", name, strings.Join(errs, "; "))
		}
		return nil
	}
}

// TestAccSwarm_class runs a class of two sessions on the swarm through the real CLI:
// the limits in the service spec, exec, isolation between the sessions' overlays
// (with its positive control), an update of the limits in place, and a destroy that
// leaves nothing.
func TestAccSwarm_class(t *testing.T) {
	testAccSetup(t)
	host := acctest.SwarmHost(t)
	c := acctest.SwarmManager(t)
	name := acctest.RandName("swarm")
	pa, pb := acctest.RandName("ada"), acctest.RandName("bob")
	const constraint = "node.role==manager"
	class := func(cpu string) string {
		return swarmProviderConfig(host) + swarmTemplateConfig(name, fmt.Sprintf("  placement_constraints = [%q]", constraint)) + fmt.Sprintf(`
locals {
  participants = [%q, %q]
}

resource "nalabo_workshop_session" "s" {
  count       = 2
  template_id = nalabo_workshop_template.t.id
  participant = local.participants[count.index]
  resources   = { cpu = %q }
}

# Each session serves a page naming itself and prints its addresses (overlay and
# docker_gwbridge alike).
resource "nalabo_exec" "serve" {
  count      = 2
  session_id = nalabo_workshop_session.s[count.index].id
  script     = "echo hi-$(hostname) > /tmp/index.html && httpd -p 8080 -h /tmp && ip -4 -o addr show | awk '$2 != \"lo\" {print $4}' | cut -d/ -f1 && cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
}

# The addresses each session printed (its CFS quota is the last line). Addresses, not
# names: the test image's static busybox cannot resolve names (and its wget -T crashes).
locals {
  ips = [for e in nalabo_exec.serve : slice(split("\n", trimspace(e.stdout)), 0, length(split("\n", trimspace(e.stdout))) - 1)]
}

# Positive control: the session reaches its own page on each of its addresses.
resource "nalabo_exec" "self" {
  session_id = nalabo_workshop_session.s[0].id
  script     = "for ip in ${join(" ", local.ips[0])}; do timeout 3 wget -qO- http://$ip:8080/ || echo FAILED $ip; done"
}

# The other session reaches its own page (its wget works) but none of the first's addresses.
resource "nalabo_exec" "other" {
  session_id = nalabo_workshop_session.s[1].id
  script     = "timeout 3 wget -qO- http://${local.ips[1][0]}:8080/ && for ip in ${join(" ", local.ips[0])}; do if timeout 3 wget -qO- http://$ip:8080/; then echo REACHED $ip; else echo blocked $ip; fi; done"
}
`, pa, pb, cpu)
	}
	var idA, idB string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			checkSwarmNone(c, workshop.LabelParticipant+"="+pa, workshop.LabelParticipant+"="+pb, workshop.LabelTemplate+"="+name),
		),
		Steps: []resource.TestStep{
			{
				Config: class("250m"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "infrastructure_type", "swarm"),
					resource.TestMatchResourceAttr("nalabo_workshop_template.t", "id", regexp.MustCompile(`^swarm\.`+name+`\.[0-9a-f]{12}\.[0-9a-f]{8}$`)),
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "placement_constraints.0", constraint),
					resource.TestCheckResourceAttr("nalabo_workshop_session.s.0", "status", "running"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.s.0", "infrastructure_type", "swarm"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.s.1", "status", "running"),
					captureAttr("nalabo_workshop_session.s.0", "id", &idA),
					captureAttr("nalabo_workshop_session.s.1", "id", &idB),
					checkSwarmService(c, "nalabo_workshop_session.s.0", 250, 64<<20, []string{constraint}),
					checkSwarmService(c, "nalabo_workshop_session.s.1", 250, 64<<20, []string{constraint}),
					// Exec: the CFS quota is the limit (25 ms per 100 ms).
					resource.TestMatchResourceAttr("nalabo_exec.serve.0", "stdout", regexp.MustCompile(`(?m)^25000$`)),
					resource.TestMatchResourceAttr("nalabo_exec.serve.0", "stdout", regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+\n`)),
					// Same session: reached on every address.
					resource.TestMatchResourceAttr("nalabo_exec.self", "stdout", regexp.MustCompile(`^hi-nalabo-[0-9a-f]{10}\n(hi-nalabo-[0-9a-f]{10}\n)+$`)),
					// The other session reaches its own page (its wget works) but none of
					// the first session's addresses.
					resource.TestMatchResourceAttr("nalabo_exec.other", "stdout", regexp.MustCompile(`^hi-nalabo-[0-9a-f]{10}\n(blocked \S+\n)+$`)),
					checkSwarmSome(c, workshop.LabelParticipant+"="+pa, 4),
				),
			},
			{
				// Resources change in place: a service update, the same sessions.
				Config: class("500m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("nalabo_workshop_session.s[0]", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("nalabo_workshop_session.s[1]", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals("nalabo_workshop_session.s.0", "id", &idA),
					checkAttrEquals("nalabo_workshop_session.s.1", "id", &idB),
					resource.TestCheckResourceAttr("nalabo_workshop_session.s.0", "effective_resources.cpu", "500m"),
					checkSwarmService(c, "nalabo_workshop_session.s.0", 500, 64<<20, []string{constraint}),
				),
			},
		},
	})
}

// TestAccSwarm_badPlacement: a constraint no node satisfies fails the session's create
// with Swarm's reason, the session and the constraint, and leaves nothing of it.
func TestAccSwarm_badPlacement(t *testing.T) {
	testAccSetup(t)
	host := acctest.SwarmHost(t)
	c := acctest.SwarmManager(t)
	name := acctest.RandName("swarmbad")
	p := acctest.RandName("cy")
	const constraint = "node.labels.nalabo-class==nowhere"
	cfg := swarmProviderConfig(host) + swarmTemplateConfig(name, fmt.Sprintf("  placement_constraints = [%q]", constraint)) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, p)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkSwarmNone(c, workshop.LabelParticipant+"="+p, workshop.LabelTemplate+"="+name),
		Steps: []resource.TestStep{
			{
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)session [0-9a-f]{10}.*no suitable node.*node\.labels\.nalabo-class==nowhere`),
			},
			{
				// Nothing of the failed session is left; the template is (a positive
				// control of the listing: its config carries the template label).
				Config: swarmProviderConfig(host) + swarmTemplateConfig(name, fmt.Sprintf("  placement_constraints = [%q]", constraint)),
				Check: resource.ComposeAggregateTestCheckFunc(
					checkSwarmNone(c, workshop.LabelParticipant+"="+p),
					checkSwarmSome(c, workshop.LabelTemplate+"="+name, 1),
				),
			},
		},
	})
}

// TestAccSwarm_planErrors: Swarm-only settings elsewhere, and malformed constraints, fail
// the plan with the attribute named (no engine needed).
func TestAccSwarm_planErrors(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("swarmplan")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      dockerTemplateConfig("t", name, acctest.ShellImage1, `  placement_constraints = ["node.role==manager"]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)placement_constraints applies to swarm templates only`),
			},
			{
				Config:      swarmTemplateConfig(name, `  placement_constraints = ["node.labels.class=a"]`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Invalid placement constraint.*node.labels.class=a.*is not a Swarm\s+placement\s+constraint`),
			},
			{
				Config:      swarmTemplateConfig(name, `  egress = "open"`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)egress is not supported on swarm templates`),
			},
			{
				// Positive control: the same template without the offending settings plans.
				Config:             swarmTemplateConfig(name, `  placement_constraints = ["node.labels.class==a"]`),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}
