package provider

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// TestAccDockerEgress: docker.egress_deny and the template's egress through Terraform,
// proven with traffic from the sessions (nalabo_exec) to listeners the test starts: a
// denied and an allowed TEST-NET-3 address behind a veth, and a listener on the host.
// The open session is the positive control of every block.
func TestAccDockerEgress(t *testing.T) {
	testAccSetup(t)
	acctest.PreCheck(t)
	hn := acctest.NewHostNet(t)
	hostPort := acctest.HostListener(t, "host listener")
	name := acctest.RandName("egress")
	pr, po := acctest.RandName("restricted"), acctest.RandName("open")
	probe := func(res, session, url string) string {
		return fmt.Sprintf(`
resource "nalabo_exec" %q {
  session_id = nalabo_workshop_session.%s.id
  script     = "if timeout 3 wget -q -O- %s; then echo; echo reached; else echo blocked; fi"
}
`, res, session, url)
	}
	// The host through the test's own host address (a veth end: a host address).
	hostURL := fmt.Sprintf("http://%s:%d/", hn.Host, hostPort)
	config := fmt.Sprintf(`
provider "nalabo" {
  docker {
    egress_deny = ["169.254.169.254/32", "fd00:ec2::254/128", "%[1]s/32"]
  }
}
`, hn.Deny) +
		dockerTemplateConfig("r", name+"-r", acctest.ShellImage1, "") +
		dockerTemplateConfig("o", name+"-o", acctest.ShellImage1, `  egress = "open"`) + fmt.Sprintf(`
resource "nalabo_workshop_session" "r" {
  template_id = nalabo_workshop_template.r.id
  participant = %q
}
resource "nalabo_workshop_session" "o" {
  template_id = nalabo_workshop_template.o.id
  participant = %q
}
`, pr, po) +
		probe("r_deny", "r", hn.DenyURL) + probe("r_allow", "r", hn.AllowURL) + probe("r_host", "r", hostURL) +
		probe("o_deny", "o", hn.DenyURL) + probe("o_host", "o", hostURL)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{pr, po}, []string{name + "-r", name + "-o"}),
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("nalabo_workshop_template.r", "egress", "restricted"),
				resource.TestCheckResourceAttr("nalabo_workshop_template.o", "egress", "open"),
				resource.TestCheckResourceAttr("nalabo_exec.r_deny", "stdout", "blocked\n"),
				resource.TestMatchResourceAttr("nalabo_exec.r_allow", "stdout", regexp.MustCompile(`allowed listener\nreached`)),
				resource.TestCheckResourceAttr("nalabo_exec.r_host", "stdout", "blocked\n"),
				resource.TestMatchResourceAttr("nalabo_exec.o_deny", "stdout", regexp.MustCompile(`denied listener\nreached`)),
				resource.TestMatchResourceAttr("nalabo_exec.o_host", "stdout", regexp.MustCompile(`host listener\nreached`)),
			),
		}},
	})
}

// TestAccDockerEgressPlanChecks: bad egress settings fail at plan time, naming the
// attribute.
func TestAccDockerEgressPlanChecks(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("egress-plan")
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:   dockerTemplateConfig("t", name, acctest.ShellImage1, `  egress = "closed"`),
				PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)egress.*value must be one of`),
			},
			{
				Config: `
resource "nalabo_workshop_template" "t" {
  name                = "` + name + `"
  infrastructure_type = "docker"
  egress              = "none"
  workspace {
    image = "` + acctest.ShellImage1 + `"
    ports = [8080]
  }
}
`,
				PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)workspace.ports: egress = "none" puts the session on an\s+internal network`),
			},
			{
				Config: dockerTemplateConfig("t", name, acctest.ShellImage1, `  egress = "none"
  compose = "services:\n  web:\n    image: `+acctest.ShellImage1+`\n    ports: [\"8080\"]\n"`),
				PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)service "web" publishes ports, but egress = "none"`),
			},
			{
				Config: `
resource "nalabo_workshop_template" "t" {
  name                = "` + name + `"
  infrastructure_type = "kubernetes"
  egress              = "open"
  workspace {
    image = "` + acctest.ShellImage1 + `"
  }
}
`,
				PlanOnly: true, ExpectError: regexp.MustCompile(`egress applies to docker templates only`),
			},
			{
				Config: `
provider "nalabo" {
  docker {
    egress_deny = ["169.254.169.254/33"]
  }
}
` + dockerTemplateConfig("t", name, acctest.ShellImage1, ""),
				PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)Invalid CIDR.*169.254.169.254/33`),
			},
		},
	})
}
