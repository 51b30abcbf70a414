package swarm

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/api/types/swarm"

	"github.com/nalabo/terraform-provider-nalabo/internal/config"
)

// TestServiceRegistryAuth: the options of a service create and update carry the login
// of the image's registry (decodable as the X-Registry-Auth the engine reads) and ask
// for the digest; an image of a registry without a login gets neither.
func TestServiceRegistryAuth(t *testing.T) {
	b, err := New(Config{Host: "unix:///nonexistent.sock", RegistryAuth: config.RegistryAuths{
		{Address: "203.0.113.194:5000", Username: "ada", Password: "s3cr3t-pw"},
		{Address: "registry.example.com", Username: "bob", Password: "other-pw"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for image, want := range map[string]string{
		"203.0.113.194:5000/workshop/shell:1":                                   "ada",
		"203.0.113.194:5000/workshop/shell:1@sha256:" + strings.Repeat("a", 64): "ada", // pinned by an update
		"REGISTRY.example.com/x":                                                "bob",
		"203.0.113.194:5001/x":                                                  "",
		"nalabo-test/shell:1":                                                   "", // Docker Hub: no login given
	} {
		enc, login, err := b.imageAuth(image)
		if err != nil {
			t.Fatalf("%s: %v", image, err)
		}
		co, uo := createOptions(enc), updateOptions(enc)
		if co.EncodedRegistryAuth != enc || uo.EncodedRegistryAuth != enc || co.QueryRegistry != (want != "") || uo.QueryRegistry != (want != "") {
			t.Errorf("%s: options %+v / %+v", image, co, uo)
		}
		if want == "" {
			if enc != "" || login != nil {
				t.Errorf("%s: login %q (%v), want none", image, enc, login)
			}
			continue
		}
		ac, err := registry.DecodeAuthConfig(enc)
		if err != nil {
			t.Fatalf("%s: X-Registry-Auth %q does not decode: %v", image, enc, err)
		}
		if ac.Username != want || ac.Password != login.Password || login.Username != want {
			t.Errorf("%s: login %q, want %q", image, ac.Username, want)
		}
	}
}

// TestNoImageHint: a task rejected for a missing image names the registry and the
// login it pulled with (never the password), or says which block to add.
func TestNoImageHint(t *testing.T) {
	b, err := New(Config{Host: "unix:///nonexistent.sock", RegistryAuth: config.RegistryAuths{
		{Address: "203.0.113.194:5000", Username: "ada", Password: "s3cr3t-pw"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	task := func(image, msg string) swarm.Task {
		var tk swarm.Task
		tk.Spec.ContainerSpec = &swarm.ContainerSpec{Image: image}
		tk.Status.Err = msg
		return tk
	}
	got := b.noImageHint(task("203.0.113.194:5000/x:1@sha256:"+strings.Repeat("b", 64), "No such image: 203.0.113.194:5000/x:1"))
	if !strings.Contains(got, `registry 203.0.113.194:5000 with swarm.registry_auth "203.0.113.194:5000" (user "ada")`) || strings.Contains(got, "s3cr3t-pw") {
		t.Errorf("with a login: %q", got)
	}
	got = b.noImageHint(task("203.0.113.195:5000/x:1", "No such image: 203.0.113.195:5000/x:1"))
	if !strings.Contains(got, `add a swarm.registry_auth block with address = "203.0.113.195:5000"`) {
		t.Errorf("without a login: %q", got)
	}
	if got := b.noImageHint(task("203.0.113.194:5000/x:1", "starting container failed: exit 1")); got != "" {
		t.Errorf("another error: %q", got)
	}
}

// TestNewRejectsDuplicateRegistries: two logins for one registry are a configuration
// error that never quotes a password.
func TestNewRejectsDuplicateRegistries(t *testing.T) {
	_, err := New(Config{Host: "unix:///nonexistent.sock", RegistryAuth: config.RegistryAuths{
		{Address: "https://203.0.113.194:5000/v2/", Username: "ada", Password: "s3cr3t-pw"},
		{Address: "203.0.113.194:5000", Username: "bob", Password: "s3cr3t-pw"},
	}})
	if err == nil || !strings.Contains(err.Error(), "same registry (203.0.113.194:5000)") || strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("err = %v", err)
	}
}
