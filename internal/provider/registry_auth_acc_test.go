package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/testregistry"
)

// privateImage pushes a local test image to a registry under a fresh tag, and removes
// what dockerd pulled of it when the test ends.
func privateImage(t *testing.T, reg *testregistry.Registry, src, repo string) string {
	t.Helper()
	ref := reg.Push(t, acctest.Client(t), src, repo+":"+strings.TrimPrefix(acctest.RandName("t"), "t-"))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = acctest.Client(t).ImageRemove(ctx, ref, image.RemoveOptions{Force: true})
	})
	return ref
}

// registryProvider is a provider block with one docker.registry_auth block per registry,
// each password from a sensitive variable pw<i>.
func registryProvider(regs ...*testregistry.Registry) string {
	var vars, blocks strings.Builder
	for i, r := range regs {
		fmt.Fprintf(&vars, "variable \"pw%d\" {\n  type      = string\n  sensitive = true\n}\n", i)
		fmt.Fprintf(&blocks, "    registry_auth {\n      address  = %q\n      username = %q\n      password = var.pw%d\n    }\n", r.Host, r.Username, i)
	}
	return requiredNalabo + vars.String() + "provider \"nalabo\" {\n  docker {\n" + blocks.String() + "  }\n}\n"
}

// TestAccRegistryAuthDocker: two private registries (basic auth, TLS with a test CA)
// with different logins. A template's workspace image comes from the first, a Compose
// service's from the second, and another template builds a Dockerfile FROM an image of
// the first. Two blocks for one registry are a plan-time error; a wrong
// password fails the apply with an error naming the registry; the right ones pull both
// images and the session runs. Neither password (nor the wrong one) is in the TF_LOG=trace
// log or the state file; the log holds the registry address (the control that it was
// captured).
func TestAccRegistryAuthDocker(t *testing.T) {
	if os.Getenv("TF_ACC") == "" || os.Getenv("NALABO_DOCKER_TESTS") == "" {
		t.Skip("acceptance test: set TF_ACC=1 and NALABO_DOCKER_TESTS=1")
	}
	testAccSetup(t)
	acctest.PreCheck(t)
	pw1, pw2 := "pw1-"+acctest.RandName("secret"), "pw2-"+acctest.RandName("secret")
	wrong := "wrong-" + acctest.RandName("secret")
	reg1 := testregistry.Start(t, "ada", pw1)
	reg2 := testregistry.Start(t, "bob", pw2)
	wsImage := privateImage(t, reg1, acctest.ShellImage1, "workshop/shell")
	svcImage := privateImage(t, reg2, acctest.HealthyImage, "services/healthy")
	baseImage := privateImage(t, reg1, acctest.ShellImage2, "workshop/base")
	buildDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(buildDir, "Dockerfile"), []byte("FROM "+baseImage+"\nRUN echo built > /BUILT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildProvider(t)

	name := acctest.RandName("registry")
	participant := acctest.RandName("ada")
	compose := fmt.Sprintf("services:\n  helper:\n    image: %s\n    command: [\"sleep\", \"infinity\"]\n", svcImage)
	cfg := registryProvider(reg1, reg2) + dockerTemplateConfig("t", name, wsImage,
		fmt.Sprintf("  compose = <<-EOT\n%s  EOT\n", indent(compose, "    "))) + fmt.Sprintf(`
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %[3]q
}
resource "nalabo_exec" "e" {
  session_id = nalabo_workshop_session.s.id
  command    = ["cat", "/VERSION"]
}
# A Dockerfile FROM a private image: the build pulls it with the first registry's login.
resource "nalabo_workshop_template" "b" {
  name                = "%[1]s-b"
  infrastructure_type = "docker"
  workspace {
    build {
      context = %[2]q
    }
  }
  resources = { cpu = "100m", memory = "32Mi" }
}
`, name, buildDir, participant)
	r := newTFRun(t, bin, cfg)
	logPath := filepath.Join(r.dir, "trace.log")
	base := append(secretsEnv(r.env), "TF_LOG=trace", "TF_LOG_PATH="+logPath)
	withPasswords := func(p1, p2 string) {
		r.env = append(append([]string{}, base...), "TF_VAR_pw0="+p1, "TF_VAR_pw1="+p2)
	}
	t.Cleanup(func() {
		withPasswords(pw1, pw2)
		_ = r.command("destroy", "-auto-approve").Run()
		acctest.CheckDestroy(t, []string{participant}, []string{name, name + "-b"})(nil) //nolint:errcheck // best effort
	})
	secrets := []string{pw1, pw2, wrong}
	// checkLogAndState: no password in the trace log nor the state file; the markers
	// show that each was read (the log names the registries, the state the images).
	checkLogAndState := func(step string, logMarkers, stateMarkers []string) {
		t.Helper()
		log, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		checkFiles(t, map[string]string{step + ": TF_LOG=trace log": string(log)}, secrets, logMarkers)
		if state, err := os.ReadFile(filepath.Join(r.dir, "terraform.tfstate")); err == nil {
			checkFiles(t, map[string]string{step + ": terraform.tfstate": string(state)}, secrets, stateMarkers)
		}
	}

	// Two blocks for one registry (another spelling of it): refused at plan time.
	dup := strings.Replace(cfg, "  docker {\n", fmt.Sprintf("  docker {\n    registry_auth {\n      address  = %q\n      username = \"eve\"\n      password = \"x\"\n    }\n", "https://"+reg2.Host+"/v2/"), 1)
	if err := os.WriteFile(filepath.Join(r.dir, "main.tf"), []byte(dup), 0o600); err != nil {
		t.Fatal(err)
	}
	withPasswords(pw1, pw2)
	out := r.output(true, "plan", "-no-color", "-input=false")
	if !regexp.MustCompile(`(?s)Duplicate registry_auth address.*docker\.registry_auth: .*` + regexp.QuoteMeta(reg2.Host)).MatchString(out) {
		t.Fatalf("duplicate registries: want a plan-time error naming registry_auth and the address, got:\n%s", tail(out, 3000))
	}
	if err := os.WriteFile(filepath.Join(r.dir, "main.tf"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// A wrong password for the second registry: the template fails, naming it.
	withPasswords(pw1, wrong)
	out = r.output(true, "apply", "-auto-approve", "-no-color", "-input=false")
	want := fmt.Sprintf(`registry %s refused the login of docker.registry_auth %q (user "bob")`, reg2.Host, reg2.Host)
	if !strings.Contains(strings.Join(strings.Fields(out), " "), want) {
		t.Fatalf("wrong password: want %q in the error, got:\n%s", want, tail(out, 3000))
	}
	if reg2.Refused() == 0 {
		t.Fatal("the second registry never refused a login: the failure was not the registry's")
	}
	checkLogAndState("wrong password", []string{reg2.Host}, nil)
	if err := os.Remove(logPath); err != nil {
		t.Fatal(err)
	}

	// The right passwords: both images are pulled, the session runs the private image.
	withPasswords(pw1, pw2)
	r.run("apply", "-auto-approve")
	show := r.output(false, "show", "-json")
	for _, w := range []string{wsImage, svcImage, `"stdout":"1\n"`} {
		if !strings.Contains(show, w) {
			t.Errorf("terraform show -json lacks %s", w)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ref := range []string{wsImage, svcImage, baseImage} {
		if _, err := acctest.Client(t).ImageInspect(ctx, ref); err != nil {
			t.Errorf("%s was not pulled: %v", ref, err)
		}
	}
	if reg1.Accepted() == 0 || reg2.Accepted() == 0 {
		t.Errorf("the registries accepted %d and %d logins", reg1.Accepted(), reg2.Accepted())
	}
	checkLogAndState("right passwords", []string{reg1.Host, reg2.Host}, []string{wsImage, svcImage})
	r.run("destroy", "-auto-approve")
	if err := acctest.CheckDestroy(t, []string{participant}, []string{name, name + "-b"})(nil); err != nil {
		t.Fatal(err)
	}
}

// privateDeployment is a template manifest whose pod pulls image with no pull secret
// of its own (the namespace's default service account carries it).
func privateDeployment(image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: private
  labels: {app: private}
spec:
  replicas: 1
  selector:
    matchLabels: {app: private}
  template:
    metadata:
      labels: {app: private}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: app
        image: %s
        command: ["sleep", "infinity"]
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
`, image)
}

// privateSessionConfig is a kubernetes template without pre-pull (the session's pods
// pull) whose workspace and Deployment images are private, and one session of it.
func privateSessionConfig(isolation, name, wsImage, appImage, participant string) string {
	return fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %[1]q
  infrastructure_type = "kubernetes"
  isolation           = %[2]q
  pre_pull            = false
  workspace {
    image   = %[3]q
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "1", memory = "1Gi" }
  manifests = <<-EOT
%[4]s  EOT
}
resource "nalabo_workshop_session" "s" {
  template_id = nalabo_workshop_template.t.id
  participant = %[5]q
}
`, name, isolation, wsImage, indent(privateDeployment(appImage), "    "), participant)
}

// TestAccRegistryAuthKubernetes: a namespace session whose workspace image and whose
// template Deployment's image are in a private registry (basic auth, TLS with a test
// CA that the test cluster's containerd trusts through its registry config_path; a
// cluster started without it pulls over plain HTTP, which the test reports).
// Without registry_auth the workspace pod cannot pull and the apply fails at once,
// naming the registry (the positive control that the registry does refuse); with it
// the kubelet pulls both through the session's pull secret, which the workspace pod
// names and the default service account hands to the Deployment's pod; the template
// pre-pull pulls through a copy in the control namespace. The provider runs with its
// documented ClusterRole only. The password is not in the state.
func TestAccRegistryAuthKubernetes(t *testing.T) {
	testAccSetup(t)
	k8sKubeconfig(t) // skips without the cluster
	password := "pw-" + acctest.RandName("secret")
	reg := testregistry.Start(t, "carol", password)
	wsImage := privateImage(t, reg, acctest.ShellImage1, "k8s/workspace")
	appImage := privateImage(t, reg, acctest.ShellImage2, "k8s/app")
	prePullImage := privateImage(t, reg, acctest.ShellImage2, "k8s/pre-pulled")
	name := acctest.RandName("k8s-registry")
	participant := name + "-ada"
	// t: no pre-pull, so that the session's pods pull; p: pre-pulled by the DaemonSet.
	template := privateSessionConfig("namespace", name, wsImage, appImage, participant)
	prePulled := fmt.Sprintf(`
resource "nalabo_workshop_template" "p" {
  name                = %[1]q
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = %[2]q
    command = ["sleep", "infinity"]
  }
}
`, name+"-p", prePullImage)
	// The provider's own ClusterRole (examples/deploy/provider/rbac.yaml), not the admin:
	// it must allow the pull secrets (secrets, the default ServiceAccount's patch).
	server, ca, token := rbacBoundToken(t, providerClusterRole(t, "nalabo-provider"))
	provider := func(auth string) string {
		return fmt.Sprintf(`
provider "nalabo" {
  kubernetes {
    host                   = %q
    token                  = %q
    cluster_ca_certificate = %q
    namespace              = "nalabo-acc"
%s  }
}
`, server, token, string(ca), auth)
	}
	withAuth := provider(fmt.Sprintf("    registry_auth {\n      address  = %q\n      username = \"carol\"\n      password = %q\n    }\n", reg.Host, password))
	refused := func(prefix string) *regexp.Regexp {
		// Terraform wraps diagnostics: any space may be a line break.
		prefix = strings.ReplaceAll(prefix, " ", `\s+`)
		return regexp.MustCompile(`(?s)` + prefix + `.*401\s+Unauthorized.*Registry\s+` + regexp.QuoteMeta(reg.Host) +
			`\s+refused\s+the\s+pull.*kubernetes\.registry_auth`)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, participant),
		Steps: []resource.TestStep{
			{
				// No login: the registry refuses the kubelet; the provider fails at once
				// and says which registry (the control: the registry does refuse).
				Config:      provider("") + template,
				ExpectError: refused(`pod workspace cannot start: workspace: (ErrImagePull|ImagePullBackOff):`),
			},
			{
				Config:      provider("") + prePulled,
				ExpectError: refused(`pre_pull: image "` + regexp.QuoteMeta(prePullImage) + `" cannot be pulled on node`),
			},
			{
				Config: withAuth + template + prePulled,
				Check: resource.ComposeAggregateTestCheckFunc(
					checkPrivatePulls(t, wsImage, appImage),
					func(s *terraform.State) error {
						if reg.Accepted() == 0 {
							return errors.New("the registry accepted no login")
						}
						// The cluster's containerd trusts the test CA through its registry
						// config_path; one started before it speaks plain HTTP to loopback.
						if testregistry.ClusterTrustsRegistries() {
							if reg.Plain() > 0 {
								return fmt.Errorf("containerd sent %d requests without TLS", reg.Plain())
							}
						} else {
							t.Logf("the test cluster's containerd has no registry config_path (started before it was added): "+
								"it pulled over plain HTTP (%d requests); restart the cluster to test TLS", reg.Plain())
						}
						for addr, rs := range s.RootModule().Resources {
							for k, v := range rs.Primary.Attributes {
								if strings.Contains(v, password) {
									return fmt.Errorf("state: %s.%s holds the registry password", addr, k)
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

// checkPrivatePulls asserts that session s runs, that pods of its namespace run the
// private images, and that every pod with a private image pulls through the
// dockerconfigjson Secret nalabo-registry.
func checkPrivatePulls(t *testing.T, images ...string) resource.TestCheckFunc {
	const addr = "nalabo_workshop_session.s"
	return resource.ComposeAggregateTestCheckFunc(
		resource.TestCheckResourceAttr(addr, "status", "running"),
		func(s *terraform.State) error {
			ns, err := stateAttr(s, addr, "namespace")
			if err != nil {
				return err
			}
			return checkPrivatePods(t, ns, images)
		})
}

func checkPrivatePods(t *testing.T, ns string, images []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := k8sAdmin(t)
	sec, err := cs.CoreV1().Secrets(ns).Get(ctx, "nalabo-registry", metav1.GetOptions{})
	if err != nil {
		return err
	}
	if sec.Type != corev1.SecretTypeDockerConfigJson {
		return fmt.Errorf("secret nalabo-registry has type %s", sec.Type)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	running := map[string]bool{}
	for _, p := range pods.Items {
		private := false
		for _, c := range p.Spec.Containers {
			private = private || slices.Contains(images, c.Image)
		}
		if !private {
			continue
		}
		names := []string{}
		for _, s := range p.Spec.ImagePullSecrets {
			names = append(names, s.Name)
		}
		if !slices.Contains(names, "nalabo-registry") {
			return fmt.Errorf("pod %s pulls with %v, not nalabo-registry", p.Name, names)
		}
		// By the spec's image: the status names any reference of the same image ID
		// (the test images pushed to several registries are one image).
		for _, c := range p.Spec.Containers {
			for _, st := range p.Status.ContainerStatuses {
				if st.Name == c.Name && st.State.Running != nil {
					running[c.Image] = true
				}
			}
		}
	}
	for _, img := range images {
		if !running[img] {
			return fmt.Errorf("no running container of %s in %s (running: %v)", img, ns, running)
		}
	}
	return nil
}

// TestAccRegistryAuthVCluster: a vCluster session whose workspace image and whose
// Deployment (applied in the virtual cluster, its pod synced to the host namespace) come
// from the private registry: the workspace pod names the session's pull secret, the
// synced pod gets it from the vCluster's workload service account.
func TestAccRegistryAuthVCluster(t *testing.T) {
	provider := vclusterProviderConfig(t, "")
	testAccSetup(t)
	password := "pw-" + acctest.RandName("secret")
	reg := testregistry.Start(t, "dave", password)
	wsImage := privateImage(t, reg, acctest.ShellImage1, "vc/workspace")
	appImage := privateImage(t, reg, acctest.ShellImage2, "vc/app")
	auth := fmt.Sprintf("    registry_auth {\n      address  = %q\n      username = \"dave\"\n      password = %q\n    }\n    vcluster {", reg.Host, password)
	provider = strings.Replace(provider, "    vcluster {", auth, 1)
	name := acctest.RandName("vc-registry")
	participant := name + "-ada"
	cfg := provider + privateSessionConfig("vcluster", name, wsImage, appImage, participant)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, participant),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				checkPrivatePulls(t, wsImage, appImage),
				func(*terraform.State) error {
					if reg.Accepted() == 0 {
						return errors.New("the registry accepted no login")
					}
					return nil
				},
			),
		}},
	})
}
