package provider

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// The troubleshooting guide (docs/guides/troubleshooting.md, from
// templates/guides/troubleshooting.md.tmpl) promises that its commands work as written.
// These tests read every line of its ```shell blocks that starts with "docker " or
// "kubectl ", replace <id> with a real session's id, and run it with the real docker CLI
// and the test cluster's kubectl against a Docker session and a Kubernetes namespace
// session created by the Terraform CLI. A line must exit 0 (unless listed below with
// another expectation) and, where listed, print what the guide says it shows.

const troubleshootingGuide = "../../docs/guides/troubleshooting.md"

// troubleshootingMarker is printed by both workspaces: docker logs and kubectl logs
// must show it.
const troubleshootingMarker = "nalabo-troubleshooting-marker"

// guideExpect is what one guide line must do; the key is a substring of the line.
type guideExpect struct {
	exit     int      // expected exit status
	contains []string // each must appear in the output (<id> replaced)
}

// guideCommands returns the guide's lines of ```shell blocks that start with prefix.
func guideCommands(t *testing.T, prefix string) []string {
	t.Helper()
	f, err := os.Open(troubleshootingGuide)
	if err != nil {
		t.Fatalf("%v (run make docs)", err)
	}
	defer f.Close()
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "```"):
			in = !in && line == "```shell"
		case in && strings.HasPrefix(line, prefix):
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runGuideLine runs one guide line through sh with <id> replaced; it returns the
// combined output and the exit status.
func runGuideLine(t *testing.T, line, id string, env []string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", strings.ReplaceAll(line, "<id>", id))
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", line, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// checkGuideLines runs every line and checks it against expect; lines whose key in
// skip matches are not run (the reason is logged). At least min lines must run, and
// every expectation must have matched a line (a renamed command is noticed).
func checkGuideLines(t *testing.T, lines []string, id string, env []string, expect map[string]guideExpect, skip map[string]string, atLeast int) error {
	used := map[string]bool{}
	ran := 0
lines:
	for _, line := range lines {
		for key, why := range skip {
			if strings.Contains(line, key) {
				t.Logf("not run: %s (%s)", line, why)
				used[key] = true
				continue lines
			}
		}
		want := guideExpect{}
		for key, e := range expect {
			if strings.Contains(line, key) {
				want, used[key] = e, true
			}
		}
		out, code := runGuideLine(t, line, id, env)
		ran++
		if code != want.exit {
			return fmt.Errorf("guide line %q: exit status %d, want %d; output:\n%s", line, code, want.exit, out)
		}
		for _, c := range want.contains {
			if c = strings.ReplaceAll(c, "<id>", id); !strings.Contains(out, c) {
				return fmt.Errorf("guide line %q: output lacks %q:\n%s", line, c, out)
			}
		}
		t.Logf("ok (exit %d): %s", code, line)
	}
	for key := range expect {
		if !used[key] {
			return fmt.Errorf("no guide line contains %q: the guide changed, update the test", key)
		}
	}
	if ran < atLeast {
		return fmt.Errorf("ran %d guide lines, want at least %d", ran, atLeast)
	}
	return nil
}

func stateID(s *terraform.State, addr string) (string, error) {
	rs, ok := s.RootModule().Resources[addr]
	if !ok || rs.Primary == nil || rs.Primary.ID == "" {
		return "", fmt.Errorf("%s not in state", addr)
	}
	return rs.Primary.ID, nil
}

func TestAccTroubleshootingGuide_docker(t *testing.T) {
	testAccSetup(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("the docker CLI is missing: %v", err)
	}
	lines := guideCommands(t, "docker ")
	name := acctest.RandName("trouble")
	participant := acctest.RandName("ada")
	const addr = "nalabo_workshop_session.s"
	config := fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %[1]q
  infrastructure_type = "docker"
  workspace {
    image   = %[2]q
    command = ["sh", "-c", "echo %[3]s; exec sleep infinity"]
  }
  resources = { cpu = "250m", memory = "64Mi" }
}

resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %[4]q
}
`, name, acctest.ShellImage1, troubleshootingMarker, participant)
	expect := map[string]guideExpect{
		"docker ps -a --filter label=nalabo.io/session=<id>":   {contains: []string{"nalabo-session-<id>", "Up "}},
		"docker logs nalabo-session-<id>":                      {contains: []string{troubleshootingMarker}},
		"json .State":                                          {contains: []string{`"Status":"running"`, `"OOMKilled":false`}},
		"docker stats --no-stream nalabo-session-<id>":         {contains: []string{"nalabo-session-<id>", "MEM USAGE / LIMIT", "64MiB", "PIDS"}},
		"docker stats --no-stream $(":                          {contains: []string{"nalabo-session-<id>"}},
		"docker ps -a --filter label=nalabo.io/managed-by":     {contains: []string{"nalabo-session-<id>"}},
		"docker volume ls --filter label=nalabo.io/session":    {contains: []string{"<id>"}},
		"docker volume ls --filter label=nalabo.io/managed-by": {contains: []string{"<id>"}},
		"docker exec nalabo-session-<id> id":                   {contains: []string{"uid="}},
		"ls -ld /workspace":                                    {contains: []string{"/workspace"}},
	}
	var id string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			acctest.CheckDestroy(t, []string{participant}, []string{name}),
			// Once the session is gone, the guide's commands say so (they fail).
			func(*terraform.State) error {
				for _, line := range []string{"docker logs nalabo-session-<id>", "docker exec nalabo-session-<id> id"} {
					if out, code := runGuideLine(t, line, id, nil); code == 0 {
						return fmt.Errorf("%q still works after destroy:\n%s", line, out)
					}
				}
				return nil
			},
		),
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr(addr, "status", "running"),
				func(s *terraform.State) error {
					var err error
					if id, err = stateID(s, addr); err != nil {
						return err
					}
					// Negative control: a line for a session that does not exist fails,
					// so an exit status of 0 above means something.
					if out, code := runGuideLine(t, "docker logs nalabo-session-<id>", "0000000000", nil); code == 0 {
						return fmt.Errorf("docker logs of a missing session exited 0:\n%s", out)
					}
					return checkGuideLines(t, lines, id, nil, expect, nil, 8)
				},
			),
		}},
	})
}

func TestAccTroubleshootingGuide_kubernetes(t *testing.T) {
	kc := k8sKubeconfig(t)
	testAccSetup(t)
	kubectl := filepath.Join(filepath.Dir(kc), "bin", "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("the test cluster's kubectl is missing: %v", err)
	}
	// The guide's lines say "kubectl": the test cluster's binary, first on PATH.
	env := []string{"PATH=" + filepath.Dir(kubectl) + ":" + os.Getenv("PATH"), "KUBECONFIG=" + kc}
	lines := guideCommands(t, "kubectl ")

	// kubectl top needs the metrics API, which the local test cluster does not serve:
	// there the guide says kubectl answers "Metrics API not available", and that is
	// what is checked. On a cluster with metrics-server the command must work.
	_, metricsCode := runGuideLine(t, "kubectl get --raw /apis/metrics.k8s.io/v1beta1", "", env)
	top := guideExpect{contains: []string{"workspace"}}
	if metricsCode != 0 {
		t.Log("the test cluster serves no metrics API (no metrics-server): kubectl top is checked to fail as the guide says")
		top = guideExpect{exit: 1, contains: []string{"Metrics API not available"}}
	}

	name := acctest.RandName("trouble-k8s")
	participant := name + "-ada"
	const addr = "nalabo_workshop_session.s"
	config := k8sProviderConfig(kc) + fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %[1]q
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sh", "-c", "echo %[2]s; exec sleep infinity"]
  }
  resources = { cpu = "500m", memory = "256Mi", storage = "1Gi" }
}

resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %[3]q
}
`, name, troubleshootingMarker, participant)
	expect := map[string]guideExpect{
		"kubectl get pods,events -n nalabo-session-<id>":  {contains: []string{"pod/workspace", "Running"}},
		"kubectl describe pod workspace":                  {contains: []string{"Status:", "Running", "nalabo-session-<id>"}},
		"kubectl logs -n nalabo-session-<id> workspace":   {contains: []string{troubleshootingMarker}},
		"--field-selector type=Warning":                   {},
		"kubectl describe resourcequota":                  {contains: []string{"nalabo-quota", "limits.cpu", "500m"}},
		"kubectl get limitrange":                          {contains: []string{"nalabo-limits"}},
		"-- id":                                           {contains: []string{"uid=1000"}},
		"kubectl top pods":                                top,
		"auth can-i --list":                               {contains: []string{"pods", "deployments.apps"}},
		"auth can-i list pods -n default":                 {exit: 1, contains: []string{"no"}},
		"auth can-i create resourcequotas":                {contains: []string{"yes"}},
		"kubectl get networkpolicies":                     {contains: []string{"nalabo-ingress-same-namespace", "nalabo-egress-no-metadata"}},
		"kubectl describe networkpolicy nalabo-egress":    {contains: []string{"169.254.169.254"}},
		"kubectl get namespaces -l nalabo.io/managed-by=": {contains: []string{"nalabo-session-<id>"}},
	}
	skip := map[string]string{"vcluster-<id>": "a vcluster session's control plane; this session is namespace-isolated"}
	var id string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			k8sCheckDestroy(t, participant),
			func(*terraform.State) error {
				if out, code := runGuideLine(t, "kubectl logs -n nalabo-session-<id> workspace", id, env); code == 0 {
					return fmt.Errorf("kubectl logs still works after destroy:\n%s", out)
				}
				return nil
			},
		),
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr(addr, "status", "running"),
				resource.TestMatchResourceAttr(addr, "namespace", regexp.MustCompile(`^nalabo-session-[0-9a-f]{10}$`)),
				func(s *terraform.State) error {
					var err error
					if id, err = stateID(s, addr); err != nil {
						return err
					}
					if out, code := runGuideLine(t, "kubectl logs -n nalabo-session-<id> workspace", "0000000000", env); code == 0 {
						return fmt.Errorf("kubectl logs in a missing namespace exited 0:\n%s", out)
					}
					return checkGuideLines(t, lines, id, env, expect, skip, 12)
				},
			),
		}},
	})
}
