package provider

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// swarmNode2 is the worker node of SWARM_NODES=2 scripts/swarm-up.sh: its hostname (the
// node_hosts key) and its engine's address (NALABO_SWARM_NODE2_HOST).
const swarmNode2Hostname = "nalabo-swarm-2"

// swarmNode2 is the worker's engine address (NALABO_SWARM_NODE2_HOST) and a client of
// it; without it the test skips (a one-node swarm).
func swarmNode2(t *testing.T) (string, *client.Client) {
	t.Helper()
	node2 := os.Getenv("NALABO_SWARM_NODE2_HOST")
	if node2 == "" {
		t.Skip("two-node Swarm test: start the swarm with SWARM_NODES=2 scripts/swarm-up.sh and set NALABO_SWARM_NODE2_HOST")
	}
	c2, err := client.NewClientWithOpts(client.WithHost(node2), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	return node2, c2
}

// checkContainerOn asserts which engine runs a session's task container: present on
// want, absent from other.
func checkContainerOn(want, other *client.Client, addr string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		f := filters.NewArgs(filters.Arg("label", workshop.LabelSession+"="+rs.Primary.ID))
		count := func(c *client.Client) (int, error) {
			cs, err := c.ContainerList(context.Background(), container.ListOptions{Filters: f})
			return len(cs), err
		}
		n, err := count(want)
		if err != nil {
			return err
		}
		m, err := count(other)
		if err != nil {
			return err
		}
		if n != 1 || m != 0 {
			return fmt.Errorf("session %s: %d task containers on the expected node, %d on the other; want 1 and 0", rs.Primary.ID, n, m)
		}
		return nil
	}
}

// TestAccSwarm_twoNodes places sessions on each node of a two-node swarm by placement
// constraints, runs exec through the worker's engine (node_hosts), checks that a session
// on one node cannot reach one on the other, that a missing node_hosts entry fails the
// exec naming the node, and that destroy leaves nothing on either engine.
func TestAccSwarm_twoNodes(t *testing.T) {
	testAccSetup(t)
	host := swarmHost(t)
	c := swarmClient(t)
	node2, c2 := swarmNode2(t)
	name := acctest.RandName("swarm2")
	p1, p2 := acctest.RandName("on1"), acctest.RandName("on2")
	provider := func(nodeHosts bool) string {
		nh := ""
		if nodeHosts {
			nh = fmt.Sprintf("    node_hosts  = { %q = %q }\n", swarmNode2Hostname, node2)
		}
		return fmt.Sprintf(`
provider "nalabo" {
  swarm {
    host        = %q
    subnet_pool = %q
%s  }
}
`, host, swarmTestPool, nh)
	}
	class := `
resource "nalabo_workshop_template" "t" {
  count               = 2
  name                = "` + name + `-${count.index + 1}"
  infrastructure_type = "swarm"
  workspace {
    image = "` + acctest.ShellImage1 + `"
  }
  resources             = { cpu = "250m", memory = "64Mi" }
  placement_constraints = ["node.labels.nalabo-node==${count.index + 1}"]
}
`
	sessions := `
resource "nalabo_workshop_session" "on1" {
  template_id = nalabo_workshop_template.t[0].id
  participant = "` + p1 + `"
}

resource "nalabo_workshop_session" "on2" {
  template_id = nalabo_workshop_template.t[1].id
  participant = "` + p2 + `"
}
`
	execs := `
# On the worker: through its engine. It serves a page and prints its addresses.
resource "nalabo_exec" "serve2" {
  session_id = nalabo_workshop_session.on2.id
  script     = "echo hi-$(hostname) > /tmp/index.html && httpd -p 8080 -h /tmp && ip -4 -o addr show | awk '$2 != \"lo\" {print $4}' | cut -d/ -f1"
}

# Positive control: the worker's session reaches its own page.
resource "nalabo_exec" "self2" {
  session_id = nalabo_workshop_session.on2.id
  script     = "for ip in ${join(" ", split("\n", trimspace(nalabo_exec.serve2.stdout)))}; do timeout 3 wget -qO- http://$ip:8080/ || echo FAILED $ip; done"
}

# The manager's session cannot.
resource "nalabo_exec" "from1" {
  session_id = nalabo_workshop_session.on1.id
  script     = "for ip in ${join(" ", split("\n", trimspace(nalabo_exec.serve2.stdout)))}; do if timeout 3 wget -qO- http://$ip:8080/; then echo REACHED $ip; else echo blocked $ip; fi; done"
}
`
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			checkSwarmNone(c, workshop.LabelParticipant+"="+p1, workshop.LabelParticipant+"="+p2),
			checkSwarmNone(c2, workshop.LabelParticipant+"="+p1, workshop.LabelParticipant+"="+p2),
		),
		Steps: []resource.TestStep{
			{
				Config: provider(true) + class + sessions + execs,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkContainerOn(c, c2, "nalabo_workshop_session.on1"),
					checkContainerOn(c2, c, "nalabo_workshop_session.on2"),
					resource.TestMatchResourceAttr("nalabo_exec.serve2", "stdout", regexp.MustCompile(`^(\d+\.\d+\.\d+\.\d+\n)+$`)),
					resource.TestMatchResourceAttr("nalabo_exec.self2", "stdout", regexp.MustCompile(`^(hi-nalabo-[0-9a-f]{10}\n)+$`)),
					resource.TestMatchResourceAttr("nalabo_exec.from1", "stdout", regexp.MustCompile(`^(blocked \S+\n)+$`)),
					// Positive control of the destroy check on the worker's engine.
					checkSwarmSome(c2, workshop.LabelParticipant+"="+p2, 2),
				),
			},
			{
				// Without node_hosts, an exec on the worker says what is missing.
				Config: provider(false) + class + sessions + `
resource "nalabo_exec" "again" {
  session_id = nalabo_workshop_session.on2.id
  command    = ["true"]
}
`,
				ExpectError: regexp.MustCompile(`(?s)hostname\s+"` + swarmNode2Hostname + `".*node_hosts`),
			},
			{
				// Nor can a delete: it refuses before removing anything, rather than
				// leave the session's volume on the worker with nothing pointing at it.
				Config:      provider(false) + class,
				ExpectError: regexp.MustCompile(`(?s)delete session [0-9a-f]{10}.*volume would be left on a node.*` + swarmNode2Hostname + `.*node_hosts`),
			},
			{
				// With node_hosts back, the delete removes everything on both engines.
				Config: provider(true) + class,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkSwarmNone(c, workshop.LabelParticipant+"="+p1, workshop.LabelParticipant+"="+p2),
					checkSwarmNone(c2, workshop.LabelParticipant+"="+p1, workshop.LabelParticipant+"="+p2),
				),
			},
		},
	})
}
