// Package acctest holds helpers for the provider's acceptance tests: a Docker client
// to look at what the provider created (by its labels), to break things for drift
// tests, and CheckDestroy functions. It is test support only: the provider itself
// never talks to Docker directly.
package acctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Images built by scripts/build-test-images.sh.
const (
	ShellImage1  = "nalabo-test/shell:1"
	ShellImage2  = "nalabo-test/shell:2"
	HealthyImage = "nalabo-test/healthy:1"
)

var (
	cliOnce sync.Once
	cli     *client.Client
	cliErr  error
)

// Client returns a Docker client for DOCKER_HOST (default the local socket).
func Client(t testing.TB) *client.Client {
	t.Helper()
	cliOnce.Do(func() {
		cli, cliErr = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	})
	if cliErr != nil {
		t.Fatalf("docker client: %v", cliErr)
	}
	return cli
}

// PreCheck fails the test early when the Docker engine or the test images are missing.
func PreCheck(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := Client(t)
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("the Docker engine does not answer (%v); start dockerd first", err)
	}
	for _, ref := range []string{ShellImage1, ShellImage2} {
		if _, err := c.ImageInspect(ctx, ref); err != nil {
			t.Fatalf("test image %s is missing (%v); run scripts/build-test-images.sh", ref, err)
		}
	}
}

// RandName returns prefix-<8 random hex chars>: unique template names and
// participants per test, so parallel tests never see each other's objects.
func RandName(prefix string) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// Counts are the objects carrying given labels.
type Counts struct {
	Containers, Networks, Volumes, Images int
	// Names lists what was found, for failure messages.
	Names []string
}

// Total is the number of objects found.
func (c Counts) Total() int { return c.Containers + c.Networks + c.Volumes + c.Images }

func (c Counts) String() string {
	return fmt.Sprintf("%d containers, %d networks, %d volumes, %d images %v", c.Containers, c.Networks, c.Volumes, c.Images, c.Names)
}

// labelArgs builds Docker label filters: nalabo.io/managed-by=terraform-provider-nalabo
// plus every given "key=value" (or "key").
func labelArgs(labels ...string) filters.Args {
	args := filters.NewArgs(filters.Arg("label", workshop.LabelManagedBy+"="+workshop.ManagedByValue))
	for _, l := range labels {
		args.Add("label", l)
	}
	return args
}

// Count counts the containers, networks, volumes and images that carry
// nalabo.io/managed-by=terraform-provider-nalabo and every given label ("key=value").
func Count(ctx context.Context, c *client.Client, labels ...string) (Counts, error) {
	var out Counts
	args := labelArgs(labels...)
	ctrs, err := c.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return out, fmt.Errorf("list containers: %w", err)
	}
	for _, x := range ctrs {
		out.Containers++
		out.Names = append(out.Names, "container "+strings.Join(x.Names, ","))
	}
	nets, err := c.NetworkList(ctx, network.ListOptions{Filters: args})
	if err != nil {
		return out, fmt.Errorf("list networks: %w", err)
	}
	for _, x := range nets {
		out.Networks++
		out.Names = append(out.Names, "network "+x.Name)
	}
	vols, err := c.VolumeList(ctx, volume.ListOptions{Filters: args})
	if err != nil {
		return out, fmt.Errorf("list volumes: %w", err)
	}
	for _, x := range vols.Volumes {
		out.Volumes++
		out.Names = append(out.Names, "volume "+x.Name)
	}
	imgs, err := c.ImageList(ctx, image.ListOptions{Filters: args})
	if err != nil {
		return out, fmt.Errorf("list images: %w", err)
	}
	for _, x := range imgs {
		out.Images++
		out.Names = append(out.Names, "image "+strings.Join(x.RepoTags, ","))
	}
	return out, nil
}

// CountLabelled is Count for a test: it fails the test on a Docker error.
func CountLabelled(t testing.TB, labels ...string) Counts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Count(ctx, Client(t), labels...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// RemoveContainer force-removes a container outside Terraform (drift tests).
func RemoveContainer(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Client(t).ContainerRemove(ctx, name, container.RemoveOptions{Force: true}); err != nil {
		t.Fatalf("remove container %s: %v", name, err)
	}
}

// CheckNoneLabelled returns a check that fails when any object still carries the
// provider's label and the given label (for example "nalabo.io/participant=ada-1234").
func CheckNoneLabelled(t testing.TB, labels ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, err := Count(ctx, Client(t), labels...)
		if err != nil {
			return err
		}
		if n.Total() > 0 {
			return fmt.Errorf("objects labelled %v left behind: %s", labels, n)
		}
		return nil
	}
}

// CheckDestroy is the TestCase CheckDestroy of tests that create sessions: it asserts
// that no container, network or volume is left for any nalabo_workshop_session in the
// state before destroy, nor for the given participants, and no stored template or
// built image for the given template names.
func CheckDestroy(t testing.TB, participants, templateNames []string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		var checks []resource.TestCheckFunc
		if s != nil {
			for _, rs := range s.RootModule().Resources {
				if rs.Type == "nalabo_workshop_session" && rs.Primary != nil && rs.Primary.ID != "" {
					checks = append(checks, CheckNoneLabelled(t, workshop.LabelSession+"="+rs.Primary.ID))
				}
			}
		}
		for _, p := range participants {
			checks = append(checks, CheckNoneLabelled(t, workshop.LabelParticipant+"="+p))
		}
		for _, n := range templateNames {
			checks = append(checks, CheckNoneLabelled(t, workshop.LabelTemplate+"="+n))
		}
		return resource.ComposeAggregateTestCheckFunc(checks...)(s)
	}
}

// As asserts v's dynamic type for a test, failing it when the type differs.
func As[T any](t testing.TB, v any) T {
	t.Helper()
	x, ok := v.(T)
	if !ok {
		t.Fatalf("%T is not a %T", v, x)
	}
	return x
}

// TerraformPath is where `make test` and CI put the Terraform CLI.
const TerraformPath = "/var/cache/nalabo/bin/terraform"

// RequireTerraform points terraform-plugin-testing at the cached CLI when
// TF_ACC_TERRAFORM_PATH is unset and the binary is there (nothing is downloaded here).
func RequireTerraform(t testing.TB) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		return
	}
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		if _, err := os.Stat(TerraformPath); err == nil {
			// For the whole process, not this test: callers run in parallel (t.Setenv
			// refuses) and every later test wants the same CLI.
			_ = os.Setenv("TF_ACC_TERRAFORM_PATH", TerraformPath) //nolint:usetesting // see above
		}
	}
}
