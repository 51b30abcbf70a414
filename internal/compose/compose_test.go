package compose

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"unknown key", "services:\n  web:\n    image: x\n    bogus: 1\n", `service "web": unknown key "bogus"`},
		{"cycle", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n", `service "[ab]": depends_on cycle: [ab] -> [ab] -> [ab]`},
		{"no image", "services:\n  a:\n    command: [sleep, '1']\n", `service "a": has neither an image nor a build section`},
		{"not yaml", "services: [\n", `not valid YAML`},
		{"bind outside", "services:\n  a:\n    image: x\n    volumes: ['/etc:/host-etc']\n", `service "a": bind mount source /etc is refused: it is outside the declared directory`},
		{"bind escape", "services:\n  a:\n    image: x\n    volumes: ['../..:/up']\n", `service "a": bind mount source .* is refused: it is outside the declared directory`},
		{"privileged", "services:\n  a:\n    image: x\n    privileged: true\n", `service "a": privileged services are not allowed`},
		{"cap", "services:\n  a:\n    image: x\n    cap_add: [SYS_ADMIN]\n", `service "a": cap_add SYS_ADMIN is outside`},
		{"reserved", "services:\n  workspace:\n    image: x\n", `service "workspace": the name "workspace" is reserved`},
		{"unknown dependency", "services:\n  a:\n    image: x\n    depends_on: [zz]\n", `service "a".*zz`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(context.Background(), tc.content, Options{ProjectName: "demo", Dir: dir})
			if err == nil {
				t.Fatal("accepted")
			}
			if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Fatalf("error %q does not match %q", err, tc.want)
			}
			if len(Problems(err)) == 0 {
				t.Fatalf("error %q holds no Problem", err)
			}
		})
	}
	// No directory: every bind mount is refused.
	_, err := Parse(context.Background(), "services:\n  a:\n    image: x\n    volumes: ['./site:/srv']\n", Options{ProjectName: "demo"})
	if err == nil || !regexp.MustCompile(`compose_directory`).MatchString(err.Error()) {
		t.Fatalf("bind mount without a directory: %v", err)
	}
}

func TestParseAndBudget(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Parse(context.Background(), `
services:
  app:
    image: x
    depends_on:
      web: {condition: service_healthy}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 64M}
  web:
    image: y
    volumes: ["./site:/srv:ro", "data:/data"]
    ports: ["0.0.0.0:80:8080"]
volumes:
  data: {}
`, Options{ProjectName: "demo", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if p.Services[0].Name != "web" || p.Services[1].Name != "app" {
		t.Fatalf("order: %v, %v", p.Services[0].Name, p.Services[1].Name)
	}
	if p.Services[1].MilliCPU != 500 || p.Services[1].MemoryBytes != 64<<20 {
		t.Fatalf("app limits: %+v", p.Services[1])
	}
	if p.Services[0].Ports[0].Target != 8080 || p.Services[0].Mounts[0].Source != filepath.Join(dir, "site") {
		t.Fatalf("web: %+v", p.Services[0])
	}
	if err := CheckBudget(p, workshop.Resources{CPU: "1", Memory: "128Mi"}); err != nil {
		t.Fatal(err)
	}
	err = CheckBudget(p, workshop.Resources{CPU: "400m", Memory: "1Gi"})
	if err == nil || !regexp.MustCompile(`service "app": app asks for 500m CPU`).MatchString(err.Error()) {
		t.Fatalf("over budget: %v", err)
	}
	shares, err := workshop.Allocate(workshop.ParsedResources{MilliCPU: 1000, MemoryBytes: 100 << 20}, Claims(p))
	if err != nil {
		t.Fatal(err)
	}
	var cpu, mem int64
	for _, s := range shares {
		cpu += s.NanoCPUs
		mem += s.MemoryBytes
	}
	if cpu != 1e9 || mem != 100<<20 || shares["app"].NanoCPUs != 5e8 {
		t.Fatalf("shares: %+v", shares)
	}
}
