package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
)

// The secrets tests drive the real CLI in a working directory of their own (as the
// interrupt tests do) so that they can read the files Terraform writes: the state file,
// `terraform show -json` and a saved plan.

// requiredNalabo maps the configuration's provider to the dev_overrides binary.
const requiredNalabo = `
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}
`

// terraform111 is a Terraform CLI that supports write-only arguments (>= 1.11), or "".
func terraform111(t *testing.T) string {
	const tf = "/usr/local/bin/terraform"
	out, err := exec.Command(tf, "version", "-json").Output()
	if err != nil {
		return ""
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if json.Unmarshal(out, &v) != nil {
		return ""
	}
	var major, minor int
	if _, err := fmt.Sscanf(v.Version, "%d.%d", &major, &minor); err != nil || major < 1 || (major == 1 && minor < 11) {
		t.Logf("%s is Terraform %s, older than 1.11", tf, v.Version)
		return ""
	}
	return tf
}

// output runs terraform with the run's environment and returns stdout; a failure
// fails the test unless wantErr, which returns the combined output instead.
func (r *tfRun) output(wantErr bool, args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.tf, args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	if wantErr {
		out, err := cmd.CombinedOutput()
		if err == nil {
			r.t.Fatalf("terraform %s succeeded, want an error:\n%s", strings.Join(args, " "), tail(string(out), 4000))
		}
		return string(out)
	}
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		r.t.Fatalf("terraform %s: %v\n%s%s", strings.Join(args, " "), err, tail(string(out), 2000), tail(stderr, 4000))
	}
	return string(out)
}

// secretsEnv is the process environment without any variable the provider reads, so
// only the configuration under test configures it.
func secretsEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k := kv[:strings.IndexByte(kv, '=')]
		if strings.HasPrefix(k, "K8S_") || k == "KUBECONFIG" || k == "KUBE_CONFIG_PATH" || strings.HasPrefix(k, "DOCKER_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// checkFiles asserts that each named text holds none of the secrets and every marker.
func checkFiles(t *testing.T, texts map[string]string, secrets, markers []string) {
	t.Helper()
	for what, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains a secret (%d characters)", what, len(s))
			}
		}
		for _, m := range markers {
			if !strings.Contains(text, m) {
				t.Errorf("%s does not contain the marker %q: the check could not see a value there", what, m)
			}
		}
	}
}

// Named for Kubernetes: it needs the cluster (the kubernetes.token secret), so it runs in
// the kubernetes phase of scripts/test.sh.
func TestAccSecretsStayOutOfState_dockerAndKubernetes(t *testing.T) {
	testAccSetup(t)
	acctest.PreCheck(t)
	creds := newK8sEnvCredentials(t)
	bin := buildProvider(t)
	marker := "marker-" + acctest.RandName("m")

	// Provider secrets (registry_auth.password, kubernetes.token) with the oldest
	// supported CLI: used for an apply (the token is the only Kubernetes credential),
	// absent from the state file and `terraform show -json`.
	t.Run("provider configuration", func(t *testing.T) {
		password := "pw-" + acctest.RandName("secret")
		name := acctest.RandName("secrets")
		participant := acctest.RandName("ada")
		cfg := requiredNalabo + fmt.Sprintf(`
variable "registry_password" {
  type      = string
  sensitive = true
}
variable "k8s_token" {
  type      = string
  sensitive = true
}
provider "nalabo" {
  docker {
    registry_auth {
      address  = "registry.invalid"
      username = "acc"
      password = var.registry_password
    }
  }
  kubernetes {
    host                   = %q
    token                  = var.k8s_token
    cluster_ca_certificate = %q
    namespace              = "nalabo-acc"
  }
}
`, creds.server, string(creds.caPEM)) + dockerTemplateConfig("t", name, acctest.ShellImage1, "") +
			k8sTemplateConfig("k", name+"-k8s", "", "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
resource "nalabo_exec" "e" {
  session_id = nalabo_workshop_session.s.id
  command    = ["true"]
  triggers   = { marker = %q }
}
`, participant, marker)
		r := newTFRun(t, bin, cfg)
		r.env = append(secretsEnv(r.env), "TF_VAR_registry_password="+password, "TF_VAR_k8s_token="+creds.token)
		t.Cleanup(func() { _ = r.command("destroy", "-auto-approve").Run() })
		r.run("apply", "-auto-approve")
		state, err := os.ReadFile(filepath.Join(r.dir, "terraform.tfstate"))
		if err != nil {
			t.Fatal(err)
		}
		show := r.output(false, "show", "-json")
		if !strings.Contains(show, `"nalabo_workshop_template"`) || !strings.Contains(show, name+"-k8s") {
			t.Fatalf("show -json lacks the templates:\n%s", tail(show, 2000))
		}
		checkFiles(t, map[string]string{"terraform.tfstate": string(state), "terraform show -json": show},
			[]string{password, creds.token}, []string{marker})
		r.run("destroy", "-auto-approve")
	})

	// env_wo: the command sees the value (it prints its SHA-256), the saved plan, its
	// JSON, the state file and `terraform show -json` do not hold it; `env` values are
	// there (the control).
	t.Run("exec env_wo", func(t *testing.T) {
		tf := terraform111(t)
		if tf == "" {
			t.Skip("write-only arguments need Terraform >= 1.11 at /usr/local/bin/terraform")
		}
		secret := "wo-" + acctest.RandName("secret")
		sum := sha256.Sum256([]byte(secret))
		name := acctest.RandName("wo")
		participant := acctest.RandName("bob")
		cfg := requiredNalabo + `
variable "secret" {
  type      = string
  sensitive = true
  ephemeral = true
}
provider "nalabo" {}
` + dockerTemplateConfig("t", name, acctest.ShellImage1, "") + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}
resource "nalabo_exec" "e" {
  session_id = nalabo_workshop_session.s.id
  script     = "printf %%s \"$NALABO_SECRET\" | sha256sum | cut -d' ' -f1; printf %%s \"$MARKER\" >&2"
  env        = { MARKER = %q }
  env_wo     = { NALABO_SECRET = var.secret }
}
`, participant, marker)
		r := newTFRun(t, bin, cfg)
		r.tf = tf
		r.env = append(secretsEnv(r.env), "TF_VAR_secret="+secret)
		t.Cleanup(func() { _ = r.command("destroy", "-auto-approve").Run() })
		r.run("plan", "-out=tfplan")
		planFile, err := os.ReadFile(filepath.Join(r.dir, "tfplan"))
		if err != nil {
			t.Fatal(err)
		}
		planJSON := r.output(false, "show", "-json", "tfplan")
		if !strings.Contains(planJSON, `"nalabo_exec"`) {
			t.Fatalf("the plan JSON lacks nalabo_exec:\n%s", tail(planJSON, 2000))
		}
		r.output(false, "apply", "-no-color", "-input=false", "tfplan") // flags before the plan file
		state, err := os.ReadFile(filepath.Join(r.dir, "terraform.tfstate"))
		if err != nil {
			t.Fatal(err)
		}
		show := r.output(false, "show", "-json")
		checkFiles(t, map[string]string{"terraform show -json tfplan": planJSON, "terraform.tfstate": string(state),
			"terraform show -json": show}, []string{secret}, []string{marker})
		// The plan file is a zip archive: its entries are compressed, so a marker there
		// is not visible to a byte search; the secret must not be in it either way.
		checkFiles(t, map[string]string{"tfplan": string(planFile)}, []string{secret}, nil)
		var st struct {
			Values struct {
				RootModule struct {
					Resources []struct {
						Address string         `json:"address"`
						Values  map[string]any `json:"values"`
					} `json:"resources"`
				} `json:"root_module"`
			} `json:"values"`
		}
		if err := json.Unmarshal([]byte(show), &st); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, res := range st.Values.RootModule.Resources {
			if res.Address != "nalabo_exec.e" {
				continue
			}
			found = true
			if got, want := res.Values["stdout"], hex.EncodeToString(sum[:])+"\n"; got != want {
				t.Errorf("stdout = %q, want the SHA-256 of the env_wo value %q: the command did not see it", got, want)
			}
			if res.Values["stderr"] != marker {
				t.Errorf("stderr = %q, want the env marker", res.Values["stderr"])
			}
			if v, ok := res.Values["env_wo"]; ok && v != nil {
				t.Errorf("env_wo in state: %v", v)
			}
		}
		if !found {
			t.Fatal("nalabo_exec.e not in terraform show -json")
		}
		// A name in both env and env_wo is refused before anything runs.
		dup := newTFRun(t, bin, requiredNalabo+`
resource "nalabo_exec" "d" {
  session_id = "0123456789abcdef"
  command    = ["true"]
  env        = { A = "1" }
  env_wo     = { A = "2" }
}
`)
		dup.tf, dup.env = tf, secretsEnv(dup.env)
		if out := dup.output(true, "validate", "-no-color"); !strings.Contains(out, "Variable in env and env_wo") || !strings.Contains(out, "env_wo: A also in env") {
			t.Errorf("env and env_wo with one name: %s", tail(out, 2000))
		}
		r.run("destroy", "-auto-approve")
	})

	// The oldest supported CLI cannot keep a write-only value out of its files: the
	// argument is refused at validation, naming it.
	t.Run("env_wo with Terraform 1.8", func(t *testing.T) {
		r := newTFRun(t, bin, requiredNalabo+`
resource "nalabo_exec" "e" {
  session_id = "0123456789abcdef"
  command    = ["true"]
  env_wo     = { A = "x" }
}
`)
		r.env = secretsEnv(r.env)
		out := r.output(true, "validate", "-no-color")
		if !strings.Contains(out, "WriteOnly Attribute Not Allowed") || !strings.Contains(out, "env_wo") || !strings.Contains(out, "Terraform 1.11") {
			t.Errorf("env_wo with %s: %s", r.tf, tail(out, 2000))
		}
		// Control: the same resource without env_wo validates.
		r2 := newTFRun(t, bin, requiredNalabo+`
resource "nalabo_exec" "e" {
  session_id = "0123456789abcdef"
  command    = ["true"]
  env        = { A = "x" }
}
`)
		r2.env = secretsEnv(r2.env)
		r2.output(false, "validate", "-no-color")
	})
}
