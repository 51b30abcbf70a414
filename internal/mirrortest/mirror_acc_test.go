package mirrortest

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// The provider's address in the mirror, as in main.go and the examples.
const (
	registryHost = "registry.terraform.io"
	namespace    = "nalabo"
	providerType = "nalabo"
	source       = registryHost + "/" + namespace + "/" + providerType
)

// TestAccMirrorInstall is what an HCP agent or any user does: `terraform init` installs
// nalabo/nalabo from a filesystem mirror (the CLI configuration has nothing else: no
// dev_overrides, no direct installation), the lock file records the version and the
// archive's hash, a class of 2 Docker sessions is applied (each runs a command) and
// destroyed, and nothing labelled is left. Once per Terraform CLI at hand: the cached
// oldest supported one always, /usr/local/bin/terraform and $CACHE/bin/terraform-* when
// present. Positive control: an archive whose content differs from the one the lock
// file recorded is refused by init.
func TestAccMirrorInstall(t *testing.T) {
	if os.Getenv("TF_ACC") == "" || os.Getenv("NALABO_DOCKER_TESTS") == "" {
		t.Skip("acceptance test: set TF_ACC=1 and NALABO_DOCKER_TESTS=1")
	}
	mirror := mirrorDir(t)
	version, archive := hostArchive(t, mirror)
	acctest.PreCheck(t)

	clis := terraformCLIs(t)
	var ran []string
	for _, cli := range clis {
		ran = append(ran, cli.version+" ("+cli.path+")")
	}
	t.Logf("provider %s from %s; Terraform CLIs: %s", version, archive, strings.Join(ran, ", "))
	for _, cli := range clis {
		t.Run("terraform-"+cli.version, func(t *testing.T) {
			testInstallApplyDestroy(t, cli, mirror, version, archive)
		})
	}
}

func testInstallApplyDestroy(t *testing.T, cli terraformCLI, mirror, version, archive string) {
	name := acctest.RandName("mirror")
	prefix := acctest.RandName("p")
	w := newWorkdir(t, cli.path, mirror, classConfig(name, prefix, version))
	t.Cleanup(func() {
		if t.Failed() {
			_, _ = w.command("destroy", "-auto-approve").CombinedOutput()
		}
	})

	out := w.run("init")
	if want := fmt.Sprintf("Installed %s/%s v%s", namespace, providerType, version); !strings.Contains(out, want) {
		t.Fatalf("terraform init did not say %q:\n%s", want, out)
	}
	lockVersion, hashes := readLock(t, filepath.Join(w.dir, ".terraform.lock.hcl"))
	if lockVersion != version {
		t.Fatalf("the lock file records %s version %q, want %q", source, lockVersion, version)
	}
	h1, err := dirhash.HashZip(archive, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(hashes, h1) {
		t.Fatalf("the lock file's hashes %v do not include the archive's %s", hashes, h1)
	}
	plugin := filepath.Join(w.dir, ".terraform", "providers", source, version, runtime.GOOS+"_"+runtime.GOARCH,
		"terraform-provider-nalabo_v"+version)
	if _, err := os.Stat(plugin); err != nil {
		t.Fatalf("init did not unpack the release binary: %v", err)
	}
	t.Logf("lock file: %s %s, hashes %v", source, lockVersion, hashes)

	out = w.run("apply", "-auto-approve")
	var outputs struct {
		Sessions struct {
			Value map[string]struct {
				Status string `json:"status"`
				Hello  string `json:"hello"`
			} `json:"value"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(w.run("output", "-json")), &outputs); err != nil {
		t.Fatalf("terraform output -json: %v", err)
	}
	if len(outputs.Sessions.Value) != 2 {
		t.Fatalf("%d sessions in the outputs, want 2:\n%s", len(outputs.Sessions.Value), out)
	}
	for p, s := range outputs.Sessions.Value {
		if s.Status != "running" || !strings.Contains(s.Hello, "hello "+p) {
			t.Errorf("session of %s: status %q, command printed %q; want running and %q", p, s.Status, s.Hello, "hello "+p)
		}
	}
	running := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name, workshop.LabelRole+"="+workshop.RoleWorkspace)
	if running.Containers != 2 {
		t.Errorf("%d workspace containers of template %s on the engine, want 2: %s", running.Containers, name, running)
	}

	// Positive control: init verifies the archive against the lock file. The same
	// version with another content is refused.
	tampered := tamperedMirror(t, archive, version)
	w2 := newWorkdir(t, cli.path, tampered, classConfig(name, prefix, version))
	copyFile(t, filepath.Join(w.dir, ".terraform.lock.hcl"), filepath.Join(w2.dir, ".terraform.lock.hcl"))
	bad, err := w2.command("init").CombinedOutput()
	if err == nil || !strings.Contains(string(bad), "checksum") {
		t.Errorf("terraform init accepted an archive that does not match the lock file (err %v):\n%s", err, bad)
	} else {
		t.Logf("a tampered archive of the same version is refused by init: %s", firstLine(string(bad), "checksum"))
	}

	w.run("destroy", "-auto-approve")
	if left := acctest.CountLabelled(t, workshop.LabelTemplate+"="+name); left.Total() != 0 {
		t.Errorf("destroy left %s", left)
	}
}

func classConfig(templateName, prefix, version string) string {
	return fmt.Sprintf(`
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo", version = %q }
  }
}

provider "nalabo" {}

resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "docker"
  workspace {
    image = %q
  }
  resources = { cpu = "100m", memory = "32Mi" }
}

resource "nalabo_workshop_session" "s" {
  for_each    = toset(["%s-a", "%s-b"])
  template_id = nalabo_workshop_template.t.id
  participant = each.key
}

resource "nalabo_exec" "hello" {
  for_each   = nalabo_workshop_session.s
  session_id = each.value.id
  command    = ["sh", "-c", "echo hello $0", each.key]
}

output "sessions" {
  value = { for p, s in nalabo_workshop_session.s : p => { status = s.status, hello = nalabo_exec.hello[p].stdout } }
}
`, version, templateName, acctest.ShellImage1, prefix, prefix)
}

// mirrorDir is dist/mirror of the repository (NALABO_MIRROR_DIR overrides it). Missing:
// the test skips, or fails when NALABO_REQUIRE_MIRROR=1 (make test builds the mirror
// first and sets it, so a broken `make mirror` cannot pass unnoticed).
func mirrorDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NALABO_MIRROR_DIR")
	if dir == "" {
		// The package's directory is go test's working directory.
		dir = filepath.Join("..", "..", "dist", "mirror")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, registryHost, namespace, providerType)); err != nil {
		msg := fmt.Sprintf("no provider mirror in %s (%v): run `make mirror` first", dir, err)
		if os.Getenv("NALABO_REQUIRE_MIRROR") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// hostArchive finds the one archive of the mirror for this platform (packed layout:
// terraform-provider-nalabo_<version>_<os>_<arch>.zip) and returns its version.
func hostArchive(t *testing.T, mirror string) (version, path string) {
	t.Helper()
	dir := filepath.Join(mirror, registryHost, namespace, providerType)
	re := regexp.MustCompile(`^terraform-provider-nalabo_(.+)_` + runtime.GOOS + `_` + runtime.GOARCH + `\.zip$`)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range ents {
		if m := re.FindStringSubmatch(e.Name()); m != nil {
			version, path = m[1], filepath.Join(dir, e.Name())
			found = append(found, e.Name())
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s_%s archive in %s, found %v: run `make mirror`", runtime.GOOS, runtime.GOARCH, dir, found)
	}
	return version, path
}

type terraformCLI struct{ path, version string }

// terraformCLIs are the Terraform CLIs at hand, one per version: TF_ACC_TERRAFORM_PATH
// (default the cached oldest supported CLI) must be there; /usr/local/bin/terraform and
// $CACHE/bin/terraform-* (such as terraform-1.12) are added when present.
func terraformCLIs(t *testing.T) []terraformCLI {
	t.Helper()
	first := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if first == "" {
		first = acctest.TerraformPath
	}
	cache := os.Getenv("CACHE")
	if cache == "" {
		cache = filepath.Dir(filepath.Dir(acctest.TerraformPath))
	}
	candidates := []string{first, "/usr/local/bin/terraform"}
	more, _ := filepath.Glob(filepath.Join(cache, "bin", "terraform-*"))
	candidates = append(candidates, more...)
	seen := map[string]bool{}
	var out []terraformCLI
	for i, p := range candidates {
		v, err := terraformVersion(p)
		if err != nil {
			if i == 0 {
				t.Fatalf("Terraform CLI %s: %v", p, err)
			}
			if !os.IsNotExist(err) {
				t.Logf("skipping Terraform CLI %s: %v", p, err)
			}
			continue
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, terraformCLI{path: p, version: v})
		}
	}
	sort.SliceStable(out[1:], func(i, j int) bool { return out[1+i].version < out[1+j].version })
	return out
}

func terraformVersion(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	cmd := exec.Command(path, "version", "-json")
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_CLI_CONFIG_FILE=/dev/null")
	raw, err := cmd.Output()
	if err != nil {
		return "", err
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Version == "" {
		return "", fmt.Errorf("terraform version -json: %v (%q)", err, raw)
	}
	return v.Version, nil
}

// workdir is a Terraform working directory whose CLI configuration installs providers
// only from the given filesystem mirror.
type workdir struct {
	t       *testing.T
	tf, dir string
	env     []string
}

func newWorkdir(t *testing.T, tf, mirror, config string) *workdir {
	t.Helper()
	dir := t.TempDir()
	rc := filepath.Join(dir, "mirror.tfrc")
	tfrc := fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path = %q\n  }\n}\n", mirror)
	if err := os.WriteFile(rc, []byte(tfrc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing from the caller's Terraform setup: no other CLI configuration, plugin
	// cache or data directory.
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TF_CLI_CONFIG_FILE", "TERRAFORM_CONFIG", "TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR", "TF_CLI_ARGS", "TF_REATTACH_PROVIDERS":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "HOME="+dir)
	return &workdir{t: t, tf: tf, dir: dir, env: env}
}

func (w *workdir) command(args ...string) *exec.Cmd {
	if args[0] != "output" {
		args = append(args, "-input=false")
	}
	cmd := exec.Command(w.tf, append(args, "-no-color")...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	return cmd
}

// run runs terraform to its end, fails the test on an error and returns stdout (plus
// stderr).
func (w *workdir) run(args ...string) string {
	w.t.Helper()
	start := time.Now()
	cmd := w.command(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		w.t.Fatalf("terraform %s: %v\n%s%s", strings.Join(args, " "), err, tail(string(out), 4000), tail(stderr.String(), 4000))
	}
	w.t.Logf("terraform %s: %s", args[0], time.Since(start).Round(100*time.Millisecond))
	return string(out) + stderr.String()
}

var (
	lockProviderRE = regexp.MustCompile(`(?s)provider "` + regexp.QuoteMeta(source) + `" \{(.*?)\n\}`)
	lockVersionRE  = regexp.MustCompile(`\n\s*version\s*=\s*"([^"]+)"`)
	lockHashRE     = regexp.MustCompile(`"((?:h1|zh):[^"]+)"`)
)

// readLock returns the version and hashes the lock file records for the provider.
func readLock(t *testing.T, path string) (string, []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("init wrote no lock file: %v", err)
	}
	block := lockProviderRE.FindSubmatch(raw)
	if block == nil {
		t.Fatalf("the lock file has no %s:\n%s", source, raw)
	}
	v := lockVersionRE.FindSubmatch(block[1])
	if v == nil {
		t.Fatalf("the lock file's %s has no version:\n%s", source, raw)
	}
	var hashes []string
	for _, m := range lockHashRE.FindAllSubmatch(block[1], -1) {
		hashes = append(hashes, string(m[1]))
	}
	return string(v[1]), hashes
}

// tamperedMirror is a mirror holding an archive of the same name and version whose
// content differs (an extra file), as a corrupted or substituted download would.
func tamperedMirror(t *testing.T, archive, version string) string {
	t.Helper()
	mirror := t.TempDir()
	dir := filepath.Join(mirror, registryHost, namespace, providerType)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := os.Create(filepath.Join(dir, filepath.Base(archive)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range in.File {
		if err := zw.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	extra, err := zw.Create("NOT-FROM-THE-RELEASE")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(extra, "tampered "+version+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return mirror
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// firstLine is the first line of s that contains substr, trimmed.
func firstLine(s, substr string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
