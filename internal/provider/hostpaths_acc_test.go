package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// composeTemplate is a docker template with a Compose file and a declared directory.
func composeTemplate(name, compose, dir string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %[1]q
  infrastructure_type = "docker"
  workspace {
    image = %[2]q
  }
  resources           = { cpu = "300m", memory = "128Mi" }
  compose             = <<-EOT
%[3]s
  EOT
  compose_directory   = %[4]q
}
`, name, acctest.ShellImage1, compose, dir)
}

const socketService = `
services:
  tool:
    image: nalabo-test/shell:1
    command: ["sleep", "infinity"]
    volumes: ["%s:/var/run/docker.sock"]
`

// TestAccHostPaths_refusedAtPlan: the reproductions of issue 11 (root on the host
// through the Docker socket) and the "say it or refuse it" inputs end at plan time with
// a diagnostic naming the attribute and the path or key; nothing is created.
func TestAccHostPaths_refusedAtPlan(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("hostpaths")
	dir := t.TempDir()
	// A symlink inside an allowed directory, pointing at the socket.
	if err := os.Symlink("/var/run/docker.sock", filepath.Join(dir, "docker.sock")); err != nil {
		t.Fatal(err)
	}
	step := func(config, want string) resource.TestStep {
		return resource.TestStep{Config: config, PlanOnly: true, ExpectError: regexp.MustCompile(want)}
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, nil, []string{name}),
		Steps: []resource.TestStep{
			// compose_directory "/" with the socket mounted.
			step(composeTemplate(name, fmt.Sprintf(socketService, "/var/run/docker.sock"), "/"),
				`(?s)compose_directory: / is\s+refused`),
			// nalabo_apply context "/var/run" with a service mounting ./docker.sock.
			step(fmt.Sprintf(`
resource "nalabo_apply" "a" {
  session_id    = "abcd1234"
  type          = "compose"
  context       = "/var/run"
  configuration = <<-EOT
%s
  EOT
}
`, fmt.Sprintf(socketService, "./docker.sock")), `(?s)context: /var/run .*is\s+refused`),
			// A symlink inside the declared directory pointing at the socket.
			step(composeTemplate(name, fmt.Sprintf(socketService, "./docker.sock"), dir),
				`(?s)compose.*service\s+"tool":\s+bind\s+mount\s+source\s+.*docker.sock.*is\s+refused`),
			// workspace.build.context at a system directory.
			step(fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    build {
      context = "/etc"
    }
  }
}
`, name), `(?s)workspace.build.context: /etc\s+is\s+refused`),
			// env keys with '='.
			step(dockerTemplateConfig("t", name, acctest.ShellImage1, "")+"\n"+`
resource "nalabo_workshop_template" "e" {
  name                = "envkeys"
  infrastructure_type = "docker"
  workspace {
    image = "x"
    env   = { "A=B" = "1" }
  }
}
`, `(?s)workspace.env.*"A=B"\s+contains\s+'='`),
			step(`
resource "nalabo_exec" "e" {
  session_id = "abcd1234"
  command    = ["true"]
  env        = { "PATH=/tmp/evil:" = "x" }
}
`, `(?s)env.*"PATH=/tmp/evil:"\s+contains\s+'='`),
			// Compose keys that weaken isolation or budgets.
			step(composeTemplate(name, "services:\n  web:\n    image: nalabo-test/shell:1\n    privileged: true\n", dir),
				`service\s+"web":\s+privileged\s+services\s+are\s+not\s+allowed`),
			step(composeTemplate(name, "services:\n  web:\n    image: nalabo-test/shell:1\n    pids_limit: -1\n", dir),
				`service\s+"web":\s+pids_limit\s+-1\s+is\s+not\s+allowed`),
		},
	})
}

// TestAccHostPaths_bindMountAndCapacity: the positive control (a file of the declared
// directory, bind-mounted, is readable in the service; a Compose key that is not applied
// only warns), then memory = "100Ti" refused with the host's memory figure (class admission at plan).
func TestAccHostPaths_bindMountAndCapacity(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("hostpaths")
	participant := acctest.RandName("ada")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("workshop data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := "services:\n  tool:\n    image: nalabo-test/shell:1\n    command: [sleep, infinity]\n    shm_size: 128m\n    volumes: ['./data.txt:/data.txt:ro']\n"
	base := composeTemplate(name, compose, dir) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}

resource "nalabo_exec" "read" {
  session_id = nalabo_workshop_session.s.id
  container  = "tool"
  command    = ["cat", "/data.txt"]
}
`, participant)
	huge := base + fmt.Sprintf(`
resource "nalabo_workshop_session" "huge" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  resources   = { memory = "100Ti" }
}
`, participant)
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: base,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", workshop.StatusRunning),
					resource.TestCheckResourceAttr("nalabo_exec.read", "stdout", "workshop data\n"),
				),
			},
			{
				Config: huge,
				// Class admission refuses it at plan with the host's figure (whatever the
				// overcommit: 100Ti is beyond any); the create's own host check stays behind it.
				ExpectError: regexp.MustCompile(`(?s)(resources.memory:\s+100Ti\s+is\s+more\s+than\s+the\s+Docker\s+host\s+has\s+\(MemTotal\s+[0-9.]+Gi\s+=\s+[0-9]+\s+bytes\)|refused\s+\(docker\.overcommit\.memory\):.*?the\s+Docker\s+host\s+has\s+[0-9.]+\s+GiB)`),
			},
		},
	})
}
