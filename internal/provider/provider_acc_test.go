package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// Acceptance tests run the real Terraform CLI against the real Docker engine:
//
//	TF_ACC=1 TF_ACC_TERRAFORM_PATH=/var/cache/nalabo/bin/terraform go test ./internal/provider/ -run TestAcc
//
// They need the images of scripts/build-test-images.sh. Every test uses its own
// template names and participants, so they run in parallel.

var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"nalabo": providerserver.NewProtocol6WithError(newTestProvider()),
}

// testAccPreCheck is every acceptance test's PreCheck.
func testAccPreCheck(t *testing.T) {
	acctest.PreCheck(t)
}

// testAccSetup points the harness at the cached Terraform CLI (nothing is downloaded).
func testAccSetup(t *testing.T) {
	acctest.RequireTerraform(t)
}

// hclList renders a list of strings as HCL.
func hclList(items ...string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// dockerTemplateConfig is a docker template with an image and small default resources.
func dockerTemplateConfig(resName, name, image, extra string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_template" %[1]q {
  name                = %[2]q
  infrastructure_type = "docker"
  workspace {
    image = %[3]q
  }
  resources = { cpu = "250m", memory = "64Mi" }
%[4]s
}
`, resName, name, image, extra)
}

// captureAttr stores a resource attribute for later steps.
func captureAttr(addr, attr string, into *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		*into = rs.Primary.Attributes[attr]
		if *into == "" {
			return fmt.Errorf("%s.%s is empty", addr, attr)
		}
		return nil
	}
}

// checkAttrEquals asserts that an attribute equals a value captured earlier.
func checkAttrEquals(addr, attr string, want *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		return resource.TestCheckResourceAttr(addr, attr, *want)(s)
	}
}

// checkAttrChanged asserts that an attribute differs from a value captured earlier.
func checkAttrChanged(addr, attr string, old *string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		if got := rs.Primary.Attributes[attr]; got == *old {
			return fmt.Errorf("%s.%s is still %q; expected a new value", addr, attr, got)
		}
		return nil
	}
}

// checkWorkspace inspects the session's workspace container and hands it to check.
func checkWorkspace(t *testing.T, addr string, check func(c container.InspectResponse) error) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := acctest.Client(t).ContainerInspect(ctx, rs.Primary.Attributes["workspace_name"])
		if err != nil {
			return err
		}
		return check(c)
	}
}

// checkLimits asserts the workspace's CPU and memory limits.
func checkLimits(t *testing.T, addr string, milliCPU, memoryBytes int64) resource.TestCheckFunc {
	return checkWorkspace(t, addr, func(c container.InspectResponse) error {
		if c.HostConfig.NanoCPUs != milliCPU*1e6 {
			return fmt.Errorf("NanoCPUs = %d, want %d", c.HostConfig.NanoCPUs, milliCPU*1e6)
		}
		if c.HostConfig.Memory != memoryBytes {
			return fmt.Errorf("Memory = %d, want %d", c.HostConfig.Memory, memoryBytes)
		}
		if c.HostConfig.Privileged {
			return fmt.Errorf("workspace runs privileged")
		}
		return nil
	})
}

// checkLifetime asserts expires_at - created_at.
func checkLifetime(addr string, want time.Duration) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[addr]
		if !ok {
			return fmt.Errorf("%s not in state", addr)
		}
		c, err := time.Parse(time.RFC3339, rs.Primary.Attributes["created_at"])
		if err != nil {
			return fmt.Errorf("created_at: %w", err)
		}
		e, err := time.Parse(time.RFC3339, rs.Primary.Attributes["expires_at"])
		if err != nil {
			return fmt.Errorf("expires_at: %w", err)
		}
		if e.Sub(c) != want {
			return fmt.Errorf("expires_at - created_at = %s, want %s", e.Sub(c), want)
		}
		return nil
	}
}

// checkCount asserts how many labelled objects exist.
func checkCount(t *testing.T, wantContainers, wantNetworks int, labels ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		n := acctest.CountLabelled(t, labels...)
		if n.Containers != wantContainers || n.Networks != wantNetworks {
			return fmt.Errorf("labelled %v: %s; want %d containers and %d networks", labels, n, wantContainers, wantNetworks)
		}
		return nil
	}
}

var (
	sessionIDRE  = regexp.MustCompile(`^[0-9a-f]{10}$`)
	digestRE     = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	timestampRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	templateIDRE = func(name string) *regexp.Regexp {
		return regexp.MustCompile(`^docker\.` + regexp.QuoteMeta(name) + `\.[0-9a-f]{12}\.[0-9a-f]{8}$`)
	}
)

// TestAccProvider_unreachableDaemon: a daemon that does not answer is a clear error at
// apply time, and never an error for a plan that needs no engine.
func TestAccProvider_unreachableDaemon(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("unreachable")
	provider := `
provider "nalabo" {
  docker {
    host = "unix:///nonexistent.sock"
  }
}
`
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:   provider,
				PlanOnly: true,
			},
			{
				// Planning a template needs no engine either.
				Config:             provider + dockerTemplateConfig("t", name, acctest.ShellImage1, ""),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config:      provider + dockerTemplateConfig("t", name, acctest.ShellImage1, ""),
				ExpectError: regexp.MustCompile(`(?s)Cannot\s+reach\s+the\s+Docker\s+engine.*unix:///nonexistent.sock`),
			},
		},
	})
}
