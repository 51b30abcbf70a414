package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// wrapped matches a diagnostic Terraform may wrap at 78 columns (a space may be a line
// break).
func wrapped(s string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(regexp.QuoteMeta(s), " ", `\s+`))
}

// TestAccGPUDockerPlanErrors: GPU and scheduling settings where they cannot apply are
// plan-time errors naming the attribute.
func TestAccGPUDockerPlanErrors(t *testing.T) {
	testAccSetup(t)
	tmpl := func(infra, extra string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = "gpu-plan"
  infrastructure_type = %q
  workspace {
    image = "nalabo-test/shell:1"
  }
%s
}
`, infra, extra)
	}
	cases := []struct{ name, config, want string }{
		{"docker node_selector", tmpl("docker", `  node_selector = { "nalabo.io/gpu" = "true" }`), `node_selector: applies to kubernetes templates only`},
		{"docker toleration", tmpl("docker", `  toleration {
    key      = "nvidia.com/gpu"
    operator = "Exists"
  }`), `toleration: applies to kubernetes templates only`},
		{"swarm runtime class", tmpl("swarm", `  runtime_class_name = "nvidia"`), `runtime_class_name: applies to kubernetes templates only`},
		{"swarm gpu", tmpl("swarm", `  resources = { gpu = 1 }`), `gpu is not supported on swarm templates`},
		{"docker amd", tmpl("docker", `  resources = { gpu = 1, gpu_resource = "amd.com/gpu" }`), `docker sessions get NVIDIA GPUs only`},
		{"gpu count", tmpl("docker", `  resources = { gpu = "1.5" }`), `Invalid GPU count`},
		{"gpu key typo", tmpl("docker", `  resources = { gpus = 1 }`), `unknown key "gpus" (did you mean "gpu"?)`},
		{"toleration operator", tmpl("kubernetes", `  isolation = "namespace"
  toleration {
    key      = "nvidia.com/gpu"
    operator = "exists"
  }`), `toleration[0].operator`},
		{"toleration typo", tmpl("kubernetes", `  isolation = "namespace"
  toleration {
    kee = "nvidia.com/gpu"
  }`), `Unsupported argument`},
	}
	steps := make([]resource.TestStep, 0, len(cases)+1)
	for _, c := range cases {
		steps = append(steps, resource.TestStep{Config: c.config, PlanOnly: true, ExpectError: wrapped(c.want)})
	}
	// Positive control: a namespace-isolated kubernetes template with all of it plans.
	steps = append(steps, resource.TestStep{Config: tmpl("kubernetes", `  isolation          = "namespace"
  resources          = { gpu = 1 }
  node_selector      = { "nalabo.io/gpu" = "true" }
  runtime_class_name = "nvidia"
  toleration {
    key      = "nvidia.com/gpu"
    operator = "Exists"
    effect   = "NoSchedule"
  }`), PlanOnly: true, ExpectNonEmptyPlan: true})
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    steps,
	})
}

// TestAccGPUDockerNoRuntime: on this Docker host (no NVIDIA Container Toolkit) a GPU
// session fails at once with a diagnostic that names resources.gpu and the remedy, and
// leaves nothing behind; the same template with gpu = 0 runs (positive control). The
// device request itself is checked by inspect in internal/backend/docker
// (TestGPUDockerDeviceRequest).
func TestAccGPUDockerNoRuntime(t *testing.T) {
	testAccSetup(t)
	acctest.PreCheck(t)
	if info, err := acctest.Client(t).Info(context.Background()); err == nil {
		if _, ok := info.Runtimes["nvidia"]; ok {
			t.Skip("this Docker host has the NVIDIA runtime: the no-driver path cannot be tested here")
		}
	}
	name := acctest.RandName("gpu")
	control, gpu := acctest.RandName("ada"), acctest.RandName("bob")
	config := func(withGPU bool) string {
		c := fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    image = %q
  }
  resources = { cpu = "250m", memory = "64Mi", gpu = 1 }
}

resource "nalabo_workshop_session" "control" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  resources   = { gpu = 0 }
}
`, name, acctest.ShellImage1, control)
		if withGPU {
			c += fmt.Sprintf(`
resource "nalabo_workshop_session" "gpu" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, gpu)
		}
		return c
	}
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{control, gpu}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: config(false),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "effective_resources.gpu", "1"),
					resource.TestCheckResourceAttr("nalabo_workshop_template.t", "effective_resources.gpu_resource", workshop.DefaultGPUResource),
					resource.TestCheckResourceAttr("nalabo_workshop_session.control", "effective_resources.gpu", "0"),
					resource.TestCheckNoResourceAttr("nalabo_workshop_session.control", "effective_resources.gpu_resource"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.control", "status", workshop.StatusRunning),
				),
			},
			{
				Config:      config(true),
				ExpectError: wrapped(`asks for 1 GPU(s) (resources.gpu) but this Docker host cannot provide them`),
			},
			{
				// The refused session left nothing; the control session is unchanged.
				Config: config(false),
				Check: resource.ComposeAggregateTestCheckFunc(
					acctest.CheckNoneLabelled(t, workshop.LabelParticipant+"="+gpu),
					resource.TestCheckResourceAttr("nalabo_workshop_session.control", "status", workshop.StatusRunning),
				),
			},
		},
	})
}
