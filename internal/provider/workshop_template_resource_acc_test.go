package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestAccWorkshopTemplate_lifecycle(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("tmpl")
	const addr = "nalabo_workshop_template.t"
	validations := `
  validations = [
    { name = "version", command = ["cat", "/VERSION"], output_pattern = "^[12]" },
    { name = "shell", command = ["sh", "-c", "exit 3"], expected_exit_code = 3, timeout = "5s" },
  ]`
	config := func(image, extra string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    image       = %q
    command     = ["sleep", "infinity"]
    env         = { LANG = "C.UTF-8" }
    working_dir = "/workspace"
    ports       = [8080]
  }
%s
}
`, name, image, extra)
	}
	var firstID string
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, nil, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: config(acctest.ShellImage1, ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr(addr, "id", templateIDRE(name)),
					resource.TestMatchResourceAttr(addr, "digest", digestRE),
					resource.TestCheckResourceAttrSet(addr, "images."+acctest.ShellImage1),
					resource.TestCheckResourceAttr(addr, "effective_resources.cpu", "1000m"),
					resource.TestCheckResourceAttr(addr, "effective_resources.memory", "2Gi"),
					resource.TestCheckResourceAttr(addr, "effective_resources.storage", "10Gi"),
					resource.TestCheckNoResourceAttr(addr, "resources.%"),
					resource.TestCheckResourceAttr(addr, "duration", "4h"),
					resource.TestCheckResourceAttr(addr, "docker_in_docker", "false"),
					resource.TestCheckNoResourceAttr(addr, "isolation"),
					resource.TestCheckNoResourceAttr(addr, "validations"),
					captureAttr(addr, "id", &firstID),
					func(*terraform.State) error {
						// The stored template is a labelled volume.
						if n := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); n.Volumes != 1 {
							return fmt.Errorf("stored template volumes: %s", n)
						}
						return nil
					},
				),
			},
			{
				// Validations are not in the digest: in-place update, same ID.
				Config: config(acctest.ShellImage1, validations),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrEquals(addr, "id", &firstID),
					resource.TestCheckResourceAttr(addr, "validations.#", "2"),
					resource.TestCheckResourceAttr(addr, "validations.0.timeout", "30s"),
					resource.TestCheckResourceAttr(addr, "validations.0.expected_exit_code", "0"),
					resource.TestCheckResourceAttr(addr, "validations.1.expected_exit_code", "3"),
					resource.TestCheckResourceAttr(addr, "validations.1.timeout", "5s"),
				),
			},
			{
				ResourceName:      addr,
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				// A digest-shaping change: a new ID (in place; sessions get replaced).
				Config: config(acctest.ShellImage2, validations),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
						plancheck.ExpectUnknownValue(addr, tfjsonpath.New("id")),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrChanged(addr, "id", &firstID),
					resource.TestMatchResourceAttr(addr, "id", templateIDRE(name)),
					resource.TestCheckResourceAttrSet(addr, "images."+acctest.ShellImage2),
					resource.TestCheckNoResourceAttr(addr, "images."+acctest.ShellImage1),
					func(*terraform.State) error {
						// The superseded version is not left behind.
						if n := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); n.Volumes != 1 {
							return fmt.Errorf("stored template volumes after an update: %s", n)
						}
						return nil
					},
				),
			},
			{
				// Resources from the configuration, kept as written.
				Config: config(acctest.ShellImage2, `resources = { cpu = "0.5", memory = "256Mi" }
  duration = "90m"`),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "resources.%", "2"),
					resource.TestCheckResourceAttr(addr, "resources.cpu", "0.5"),
					resource.TestCheckResourceAttr(addr, "effective_resources.cpu", "0.5"),
					resource.TestCheckResourceAttr(addr, "effective_resources.memory", "256Mi"),
					resource.TestCheckResourceAttr(addr, "effective_resources.storage", "10Gi"),
					resource.TestCheckResourceAttr(addr, "duration", "90m"),
				),
			},
		},
	})
}

// TestAccWorkshopTemplate_build builds the workspace image from a local Dockerfile; a
// changed file in the context changes the digest and replaces the session.
func TestAccWorkshopTemplate_build(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("build")
	participant := acctest.RandName("grace")
	dir := t.TempDir()
	write := func(file, content string) {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM "+acctest.ShellImage1+"\nCOPY hello.txt /hello.txt\n")
	write("hello.txt", "hello from build 1\n")

	config := fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    build {
      context = %q
    }
  }
  resources = { cpu = "250m", memory = "64Mi" }
}

resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}

resource "nalabo_exec" "hello" {
  session_id = nalabo_workshop_session.s.id
  command    = ["cat", "/hello.txt"]
}
`, name, dir, participant)
	const tAddr, sAddr = "nalabo_workshop_template.t", "nalabo_workshop_session.s"
	var firstTemplate, firstSession string
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr(tAddr, "workspace.build.context_sha256", regexp.MustCompile(`^[0-9a-f]{64}$`)),
					resource.TestCheckResourceAttr(tAddr, "workspace.build.dockerfile", "Dockerfile"),
					resource.TestCheckResourceAttr("nalabo_exec.hello", "stdout", "hello from build 1\n"),
					captureAttr(tAddr, "id", &firstTemplate),
					captureAttr(sAddr, "id", &firstSession),
				),
			},
			{
				PreConfig: func() { write("hello.txt", "hello from build 2\n") },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(tAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectResourceAction(sAddr, plancheck.ResourceActionDestroyBeforeCreate),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					checkAttrChanged(tAddr, "id", &firstTemplate),
					checkAttrChanged(sAddr, "id", &firstSession),
					resource.TestCheckResourceAttr("nalabo_exec.hello", "stdout", "hello from build 2\n"),
				),
			},
			{
				ResourceName:      tAddr,
				ImportState:       true,
				ImportStateVerify: true,
			},
		},
	})
}
