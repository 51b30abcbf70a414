package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccInfrastructureDataSource_docker: the local engine is reported reachable with
// its version and capacity; an engine that does not answer is reachable = false with
// its error, not a failed plan.
func TestAccInfrastructureDataSource_docker(t *testing.T) {
	testAccSetup(t)
	const addr = "data.nalabo_infrastructure.this"
	positive := regexp.MustCompile(`^[1-9][0-9]*$`)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: `
data "nalabo_infrastructure" "this" {}

check "docker_reachable" {
  assert {
    condition     = data.nalabo_infrastructure.this.backends["docker"].reachable
    error_message = "the Docker engine does not answer"
  }
}
`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "backends.docker.type", "docker"),
					resource.TestCheckResourceAttr(addr, "backends.docker.reachable", "true"),
					resource.TestCheckNoResourceAttr(addr, "backends.docker.error"),
					resource.TestMatchResourceAttr(addr, "backends.docker.server_version", regexp.MustCompile(`^\d+\.\d+`)),
					resource.TestMatchResourceAttr(addr, "backends.docker.api_version", regexp.MustCompile(`^1\.\d+$`)),
					resource.TestMatchResourceAttr(addr, "backends.docker.allocatable_cpu_millicores", positive),
					resource.TestMatchResourceAttr(addr, "backends.docker.allocatable_memory_bytes", positive),
					resource.TestCheckResourceAttrSet(addr, "backends.docker.used_cpu_millicores"),
					resource.TestCheckResourceAttrSet(addr, "backends.docker.sessions"),
					resource.TestCheckResourceAttrSet(addr, "backends.docker.details.storage_driver"),
					resource.TestCheckResourceAttr(addr, "all_reachable", "true"),
					resource.TestCheckResourceAttrSet(addr, "sessions"),
				),
			},
			{
				Config: `
provider "nalabo" {
  docker {
    host = "unix:///nonexistent/nalabo-test-docker.sock"
  }
}

data "nalabo_infrastructure" "this" {}
`,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "backends.docker.reachable", "false"),
					resource.TestMatchResourceAttr(addr, "backends.docker.error", regexp.MustCompile(`(?s)Cannot reach the Docker engine.*nonexistent`)),
					resource.TestCheckNoResourceAttr(addr, "backends.docker.server_version"),
					resource.TestCheckResourceAttr(addr, "all_reachable", "false"),
					resource.TestCheckResourceAttr(addr, "sessions", "0"),
				),
			},
		},
	})
}
