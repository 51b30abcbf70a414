package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// composeDir writes the files of the design's Compose shape: the site web serves (a
// bind mount from the declared directory) and app's build context.
func composeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"site/index.html": "hello from web\n",
		"app/Dockerfile":  "FROM " + acctest.ShellImage1 + "\nRUN echo built > /BUILT\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// composeShape: a web server (busybox httpd on a bind mount) and an app built from a
// Dockerfile that depends on web being healthy, with a named volume and a command.
const composeShape = `
services:
  web:
    image: nalabo-test/healthy:1
    command: ["httpd", "-f", "-p", "8080", "-h", "/srv"]
    volumes: ["./site:/srv:ro"]
    ports: ["8080:8080"]
  app:
    build: ./app
    depends_on:
      web:
        condition: service_healthy
    command: ["sh", "-c", "cat /BUILT > /data/built; sleep infinity"]
    volumes: ["data:/data"]
    mem_limit: 24m
volumes:
  data: {}
`

// execIn runs argv in a container straight through Docker (test checks only).
func execIn(t *testing.T, name string, argv ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := acctest.Client(t)
	ex, err := c.ContainerExecCreate(ctx, name, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return "", -1, err
	}
	att, err := c.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", -1, err
	}
	defer att.Close()
	var out strings.Builder
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return out.String(), -1, err
	}
	ins, err := c.ContainerExecInspect(ctx, ex.ID)
	return out.String(), ins.ExitCode, err
}

// checkBudget asserts that a session has n containers whose limits add up to the
// session's CPU and memory.
func checkBudget(t *testing.T, sessionID string, n int, milliCPU, memory int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := acctest.Client(t)
	list, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", workshop.LabelSession+"="+sessionID))})
	if err != nil {
		return err
	}
	var cpu, mem int64
	for _, x := range list {
		ins, err := c.ContainerInspect(ctx, x.ID)
		if err != nil {
			return err
		}
		cpu += ins.HostConfig.NanoCPUs
		mem += ins.HostConfig.Memory
	}
	if len(list) != n || cpu != milliCPU*1e6 || mem != memory {
		return fmt.Errorf("session %s: %d containers with %d nano CPUs and %d bytes in total; want %d, %dm, %d", sessionID, len(list), cpu, mem, n, milliCPU, memory)
	}
	return nil
}

// containerIP is a container's address on its session network.
func containerIP(t *testing.T, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ins, err := acctest.Client(t).ContainerInspect(ctx, name)
	if err != nil {
		return "", err
	}
	for _, n := range ins.NetworkSettings.Networks {
		return n.IPAddress, nil
	}
	return "", fmt.Errorf("%s has no network", name)
}

func TestAccCompose_templateAndSessions(t *testing.T) {
	testAccSetup(t)
	dir := composeDir(t)
	name := acctest.RandName("compose")
	ada, bob := acctest.RandName("ada"), acctest.RandName("bob")
	config := fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %[1]q
  infrastructure_type = "docker"
  workspace {
    image = %[2]q
  }
  compose             = <<-EOT
%[3]s
  EOT
  compose_directory   = %[4]q
  resources           = { cpu = "300m", memory = "96Mi" }
}

resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %[5]q
}

resource "nalabo_workshop_session" "b" {
  template_id = nalabo_workshop_template.t.id
  participant = %[6]q
}

resource "nalabo_exec" "web" {
  session_id = nalabo_workshop_session.a.id
  # Static busybox wget cannot resolve names: nslookup first.
  script     = "ip=$(nslookup web | awk '/^Address/ && $NF !~ /:53$/ {a=$NF} END {print a}'); timeout 3 wget -qO- http://$ip:8080/"
}
`, name, acctest.ShellImage1, composeShape, dir, ada, bob)
	const sessA = "nalabo_workshop_session.a"
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{ada, bob}, []string{name}),
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttrSet("nalabo_workshop_template.t", "compose_builds.app"),
				resource.TestCheckResourceAttr("nalabo_workshop_template.t", "images.%", "3"),
				resource.TestCheckResourceAttr(sessA, "containers.#", "3"),
				resource.TestCheckResourceAttr(sessA, "status", workshop.StatusRunning),
				resource.TestCheckResourceAttr(sessA, "effective_resources.cpu", "300m"),
				resource.TestCheckResourceAttr(sessA, "effective_resources.memory", "96Mi"),
				resource.TestCheckTypeSetElemNestedAttrs(sessA, "ports.*", map[string]string{"container": "web", "container_port": "8080", "host_ip": "127.0.0.1"}),
				resource.TestCheckResourceAttr("nalabo_exec.web", "stdout", "hello from web\n"),
				checkCount(t, 3, 1, workshop.LabelParticipant+"="+ada),
				func(s *terraform.State) error {
					a := s.RootModule().Resources[sessA].Primary.ID
					b := s.RootModule().Resources["nalabo_workshop_session.b"].Primary.ID
					// app wrote its built file into its volume.
					out, code, err := execIn(t, workshop.SessionObjectName(a)+"-app", "cat", "/data/built")
					if err != nil || code != 0 || out != "built\n" {
						return fmt.Errorf("app's volume: %q %d %v", out, code, err)
					}
					// Session A's workspace cannot reach session B's web.
					ip, err := containerIP(t, workshop.SessionObjectName(b)+"-web")
					if err != nil {
						return err
					}
					out, code, err = execIn(t, workshop.SessionObjectName(a), "sh", "-c", "timeout 3 wget -qO- http://"+ip+":8080/")
					if err != nil || code == 0 || strings.Contains(out, "hello") {
						return fmt.Errorf("session %s reached session %s's web at %s: %q (exit %d, %v)", a, b, ip, out, code, err)
					}
					return nil
				},
			),
		}},
	})
}

func TestAccApply_composeAndDockerfile(t *testing.T) {
	testAccSetup(t)
	name := acctest.RandName("apply")
	participant := acctest.RandName("ada")
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "hello.txt"), []byte("hello from the context\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	twoServices := `
services:
  cache:
    image: nalabo-test/shell:1
    command: ["sleep", "infinity"]
    volumes: ["cachedata:/data"]
  extra:
    image: nalabo-test/healthy:1
volumes:
  cachedata: {}
`
	oneService := strings.Split(twoServices, "  extra:")[0] + "volumes:\n  cachedata: {}\n"
	config := func(composeFile string) string {
		return dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}

resource "nalabo_apply" "c" {
  session_id    = nalabo_workshop_session.s.id
  type          = "compose"
  configuration = <<-EOT
%s
  EOT
}

resource "nalabo_apply" "d" {
  session_id    = nalabo_workshop_session.s.id
  type          = "dockerfile"
  configuration = "FROM nalabo-test/shell:1\nCOPY hello.txt /hello.txt\nCMD [\"sleep\", \"infinity\"]\n"
  context       = %q
  run           = true
  service_name  = "tool"
}

resource "nalabo_exec" "tool" {
  session_id = nalabo_apply.d.session_id
  container  = "tool"
  command    = ["cat", "/hello.txt"]
}
`, participant, composeFile, ctxDir)
	}
	const c, d = "nalabo_apply.c", "nalabo_apply.d"
	var sessionID string
	ws := func() string { return workshop.SessionObjectName(sessionID) }
	resource.ParallelTest(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             acctest.CheckDestroy(t, []string{participant}, []string{name}),
		Steps: []resource.TestStep{
			{
				Config: config(twoServices),
				Check: resource.ComposeAggregateTestCheckFunc(
					captureAttr("nalabo_workshop_session.s", "id", &sessionID),
					resource.TestMatchResourceAttr(c, "id", regexp.MustCompile(`^[0-9a-f]{16}$`)),
					resource.TestCheckResourceAttr(c, "objects.#", "3"),
					func(s *terraform.State) error {
						return resource.ComposeAggregateTestCheckFunc(
							resource.TestCheckTypeSetElemNestedAttrs(c, "objects.*", map[string]string{"kind": "container", "name": ws() + "-cache", "status": "running"}),
							resource.TestCheckTypeSetElemNestedAttrs(c, "objects.*", map[string]string{"kind": "container", "name": ws() + "-extra", "status": "healthy"}),
							resource.TestCheckTypeSetElemNestedAttrs(c, "objects.*", map[string]string{"kind": "volume", "name": ws() + "-cachedata"}),
							resource.TestCheckTypeSetElemNestedAttrs(d, "objects.*", map[string]string{"kind": "image", "name": "nalabo-session-" + sessionID + "/" + s.RootModule().Resources[d].Primary.ID + ":latest"}),
							resource.TestCheckResourceAttr(d, "image", "nalabo-session-"+sessionID+"/"+s.RootModule().Resources[d].Primary.ID+":latest"),
						)(s)
					},
					resource.TestCheckResourceAttrSet(d, "context_sha256"),
					resource.TestCheckResourceAttr("nalabo_exec.tool", "stdout", "hello from the context\n"),
					// The session's budget is shared, not exceeded.
					func(*terraform.State) error { return checkBudget(t, sessionID, 4, 250, 64*mi) },
				),
			},
			{
				// Removing a service prunes it (and only it).
				Config: config(oneService),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(c, plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(d, plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(c, "objects.#", "2"),
					func(*terraform.State) error {
						if n := acctest.CountLabelled(t, workshop.LabelSession+"="+sessionID, workshop.LabelRole+"="+workshop.RoleService); n.Containers != 2 {
							return fmt.Errorf("services after prune: %s", n)
						}
						return nil
					},
				),
			},
			{
				// Drift: a service removed outside Terraform is applied again.
				PreConfig: func() { acctest.RemoveContainer(t, ws()+"-cache") },
				Config:    config(oneService),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(c, plancheck.ResourceActionUpdate),
				}},
				Check: func(s *terraform.State) error {
					return resource.TestCheckTypeSetElemNestedAttrs(c, "objects.*", map[string]string{"kind": "container", "name": ws() + "-cache", "status": "running"})(s)
				},
			},
			{
				// Destroying the applies only leaves the session as it was.
				Config: dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
`, participant),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.s", "status", workshop.StatusRunning),
					func(*terraform.State) error { return checkBudget(t, sessionID, 1, 250, 64*mi) },
					func(*terraform.State) error {
						if n := acctest.CountLabelled(t, workshop.LabelApply); n.Total() > 0 {
							for _, o := range n.Names {
								if strings.Contains(o, sessionID) {
									return fmt.Errorf("apply objects left: %s", n)
								}
							}
						}
						return nil
					},
				),
			},
		},
	})
}

// TestAccApply_badInputs: every bad configuration of issue 4 is a plan-time error that
// names the document and the service. Nothing is applied.
func TestAccApply_badInputs(t *testing.T) {
	testAccSetup(t)
	dir := composeDir(t)
	apply := func(typ, content, extra string) string {
		return fmt.Sprintf(`
resource "nalabo_apply" "a" {
  session_id    = "0123456789"
  type          = %q
  configuration = <<-EOT
%s
  EOT
%s
}
`, typ, content, extra)
	}
	template := func(content, extra string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = "demo"
  infrastructure_type = "docker"
  workspace {
    image = "nalabo-test/shell:1"
  }
  compose             = <<-EOT
%s
  EOT
  compose_directory   = %q
%s
}
`, content, dir, extra)
	}
	cases := []struct{ name, config, want string }{
		{"unknown key", template("services:\n  web:\n    image: x\n    bogus: 1\n", ""), `(?s)Invalid Compose file.*compose.yaml: service "web": unknown key "bogus"`},
		{"cycle", template("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n", ""), `(?s)Invalid Compose file.*depends_on cycle`},
		{"no image", template("services:\n  app:\n    command: [\"true\"]\n", ""), `(?s)service "app": has neither an image nor a build section`},
		{"compose not yaml", template("services: [\n", ""), `(?s)Invalid Compose file.*not valid YAML`},
		{"bind outside", template("services:\n  web:\n    image: x\n    volumes: [\"/etc:/host\"]\n", ""), `(?s)service "web": bind mount source /etc is refused: it\s+is\s+outside\s+the\s+declared\s+directory`},
		{"over budget", template("services:\n  big:\n    image: x\n    mem_limit: 4g\n", `  resources = { memory = "1Gi" }`), `(?s)service "big": big asks for 4Gi of memory, more than the session's 1Gi`},
		{"apply unknown key", apply("compose", "services:\n  web:\n    image: x\n    imgae: y\n", ""), `(?s)configuration: compose.yaml: service "web": unknown key "imgae"`},
		{"apply no image", apply("compose", "services:\n  web:\n    command: [\"true\"]\n", ""), `(?s)service "web": has neither an image nor a build section`},
		{"yaml not yaml", apply("yaml", "apiVersion: v1\nkind: [\n", ""), `(?s)Invalid YAML.*document 1.*not valid YAML`},
		{"yaml without kind", apply("yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n", ""), `(?s)Invalid YAML.*document 2 \(line 5\): has no kind`},
		{"dockerfile without FROM", apply("dockerfile", "RUN true\n", ""), `(?s)Invalid Dockerfile.*first instruction must be FROM`},
		{"compose on kubernetes", `
resource "nalabo_workshop_template" "k" {
  name                = "demo"
  infrastructure_type = "kubernetes"
  workspace {
    image = "nalabo-test/shell:1"
  }
  compose             = "services: {}"
}
`, `(?s)compose applies to docker templates only`},
		{"run on compose", apply("compose", "services:\n  web:\n    image: x\n", "  run = true"), `(?s)run applies to type = "dockerfile" only`},
	}
	steps := make([]resource.TestStep, 0, len(cases))
	for _, c := range cases {
		steps = append(steps, resource.TestStep{
			Config:      c.config,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(strings.ReplaceAll(c.want, " ", `\s+`)),
		})
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    steps,
	})
}
