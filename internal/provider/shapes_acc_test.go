package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// TestAccShapes_typos: a misspelt key in any setting that shapes a budget or security
// is a plan-time error naming the key (Terraform drops unknown keys of nested
// attribute objects silently, hashicorp/terraform#33570), and the correct spelling
// plans with the value in force. Plan only, against a socket that does not exist:
// nothing dials a Docker engine or a cluster.
func TestAccShapes_typos(t *testing.T) {
	testAccSetup(t)
	buildDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(buildDir, "Dockerfile"), []byte("FROM nalabo-test/shell:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const fakeTemplateID = "docker.demo.0123456789ab"

	// Each setting's correct spelling; a case replaces one key by a misspelling.
	dockerBlock := `
provider "nalabo" {
  docker {
    host         = "unix:///nonexistent/nalabo-typos.sock"
    bind_address = "127.0.0.1"
    pids_limit   = 256
    registry_auth {
      address  = "registry.example.com"
      username = "workshops"
      password = "not-a-secret"
    }
  }
}
`
	kubernetesBlock := `
provider "nalabo" {
  kubernetes {
    host     = "https://127.0.0.1:1"
    insecure = true
    exec {
      api_version = "client.authentication.k8s.io/v1"
      command     = "get-token"
      args        = ["--cluster", "workshops"]
    }
    vcluster {
      persistence       = true
      control_plane_cpu = "1500m"
    }
  }
}
`
	workspace := fmt.Sprintf(`
  workspace {
    ports = [8080]
    env   = { LANG = "C.UTF-8" }
    build {
      context    = %q
      dockerfile = "Dockerfile"
    }
  }`, buildDir)
	template := `
resource "nalabo_workshop_template" "t" {
  name                = "typos"
  infrastructure_type = "docker"` + workspace + `
  resources = { cpu = "250m", memory = "128Mi" }
}
`
	session := fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = %q
  participant = "ada"
  resources   = { cpu = "500m", memory = "96Mi" }
}
`, fakeTemplateID)
	good := dockerBlock + template + session

	typo := func(config, correct, misspelt string) string {
		if !strings.Contains(config, correct) {
			t.Fatalf("%q is not in the configuration", correct)
		}
		return strings.Replace(config, correct, misspelt, 1)
	}
	unsupported := func(name string) string {
		return `(?s)Unsupported argument.*An argument named "` + name + `" is not expected here`
	}
	cases := []struct {
		name, config, want string
	}{
		{"session resources", typo(good, `resources   = { cpu = "500m", memory = "96Mi" }`, `resources   = { cpu = "500m", memroy = "96Mi" }`),
			`(?s)Unknown key.*resources: unknown key "memroy" \(did you mean "memory"\?\)`},
		{"template resources", typo(good, `resources = { cpu = "250m", memory = "128Mi" }`, `resources = { cpus = "250m", memory = "128Mi" }`),
			`(?s)Unknown key.*resources: unknown key "cpus" \(did you mean "cpu"\?\)`},
		{"template resources unrelated key", typo(good, `resources = { cpu = "250m", memory = "128Mi" }`, `resources = { cpu = "250m", bandwidth = "1" }`),
			`(?s)resources: unknown key "bandwidth";\s+the\s+keys\s+are\s+cpu,\s+gpu,\s+gpu_resource,\s+memory,\s+storage`},
		{"workspace ports", typo(good, `ports = [8080]`, `portz = [8080]`), unsupported("portz")},
		{"workspace env", typo(good, `env   = { LANG`, `envs  = { LANG`), unsupported("envs")},
		{"workspace build", typo(good, `dockerfile = "Dockerfile"`, `dockerfil = "Dockerfile"`), unsupported("dockerfil")},
		{"workspace image", typo(good, `    ports = [8080]`, `    imgae = "nalabo-test/shell:1"`), unsupported("imgae")},
		{"provider docker", typo(good, `bind_address = "127.0.0.1"`, `bind_adress = "127.0.0.1"`), unsupported("bind_adress")}, //nolint:misspell // the typo is the test
		{"provider docker pids", typo(good, `pids_limit   = 256`, `pid_limit = 256`), unsupported("pid_limit")},
		{"registry_auth", typo(good, `password = "not-a-secret"`, `pasword = "not-a-secret"`), unsupported("pasword")},
		{"provider kubernetes", typo(kubernetesBlock+template, `insecure = true`, `insecur = true`), unsupported("insecur")},
		{"kubernetes exec", typo(kubernetesBlock+template, `args        = [`, `arg = [`), unsupported("arg")},
		{"kubernetes vcluster", typo(kubernetesBlock+template, `persistence       = true`, `persistance = true`), unsupported("persistance")}, //nolint:misspell // the typo is the test
		// The shapes before blocks fail loudly too, never silently.
		{"old workspace syntax", typo(good, workspace, "\n  workspace = {\n    image = \"nalabo-test/shell:1\"\n    ports = [8080]\n  }"),
			`(?s)Unsupported argument.*Did you mean to define a block of type "workspace"\?`},
		{"old provider syntax", "provider \"nalabo\" {\n  docker = {\n    bind_address = \"127.0.0.1\"\n  }\n}\n" + template + session,
			`(?s)Unsupported argument.*Did you mean to define a block of type "docker"\?`},
		{"old nested syntax", typo(good, "    registry_auth {\n", "    registry_auth = {\n"), `(?s)Unsupported argument.*Did you mean to define a block of type "registry_auth"\?`},
		{"workspace missing", typo(good, workspace, ""), `(?s)Invalid Block.*Block workspace must have a configuration value`},
	}
	var steps []resource.TestStep
	for _, c := range cases {
		steps = append(steps, resource.TestStep{
			Config:   c.config,
			PlanOnly: true,
			// Terraform wraps diagnostics at 78 columns: a space may be a line break.
			ExpectError: regexp.MustCompile(strings.ReplaceAll(c.want, " ", `\s+`)),
		})
	}
	// Positive controls: the correct spellings plan, and the values are the ones in force.
	known := func(addr string, p tfjsonpath.Path, v knownvalue.Check) plancheck.PlanCheck {
		return plancheck.ExpectKnownValue(addr, p, v)
	}
	steps = append(steps,
		resource.TestStep{
			Config:             good,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
			ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPreRefresh: []plancheck.PlanCheck{
				known("nalabo_workshop_template.t", tfjsonpath.New("effective_resources").AtMapKey("cpu"), knownvalue.StringExact("250m")),
				known("nalabo_workshop_template.t", tfjsonpath.New("effective_resources").AtMapKey("memory"), knownvalue.StringExact("128Mi")),
				known("nalabo_workshop_template.t", tfjsonpath.New("effective_resources").AtMapKey("storage"), knownvalue.StringExact("10Gi")),
				known("nalabo_workshop_template.t", tfjsonpath.New("workspace").AtMapKey("ports"), knownvalue.ListExact([]knownvalue.Check{knownvalue.Int64Exact(8080)})),
				known("nalabo_workshop_template.t", tfjsonpath.New("workspace").AtMapKey("env").AtMapKey("LANG"), knownvalue.StringExact("C.UTF-8")),
				known("nalabo_workshop_template.t", tfjsonpath.New("workspace").AtMapKey("build").AtMapKey("dockerfile"), knownvalue.StringExact("Dockerfile")),
				known("nalabo_workshop_session.s", tfjsonpath.New("resources"), knownvalue.MapExact(map[string]knownvalue.Check{
					"cpu": knownvalue.StringExact("500m"), "memory": knownvalue.StringExact("96Mi"),
				})),
				known("nalabo_workshop_session.s", tfjsonpath.New("effective_resources").AtMapKey("memory"), knownvalue.StringExact("96Mi")),
				known("nalabo_workshop_session.s", tfjsonpath.New("effective_resources").AtMapKey("cpu"), knownvalue.StringExact("500m")),
			}},
		},
		resource.TestStep{
			Config:             kubernetesBlock + template,
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
		},
	)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    steps,
	})
}
