package compose

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestEveryComposeKeyIsClassified fails when compose-go has a service key that is
// neither applied, nor refused, nor reported as not applied by a rule of keys.go.
func TestEveryComposeKeyIsClassified(t *testing.T) {
	var missing []string
	for _, k := range allKeys(reflect.TypeOf(types.ServiceConfig{}), "") {
		if k == "name" || strings.HasPrefix(k, "volumes") {
			continue
		}
		if _, ok := lookupRule(serviceKeys, k); !ok {
			missing = append(missing, k)
		}
	}
	for _, k := range allKeys(reflect.TypeOf(types.ServiceVolumeConfig{}), "") {
		if _, ok := lookupRule(volumeKeys, k); !ok {
			missing = append(missing, "volumes[]."+k)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("Compose keys with no rule in keys.go (apply them, refuse them or report them): %s", strings.Join(missing, ", "))
	}
}

func TestComposeKeyPolicy(t *testing.T) {
	dir := t.TempDir()
	parse := func(content string) (*Project, error) {
		return Parse(context.Background(), content, Options{ProjectName: "demo", Dir: dir})
	}
	refused := map[string]string{
		"privileged":       "privileged: true",
		"pids_limit -1":    "pids_limit: -1",
		"oom_kill_disable": "oom_kill_disable: true",
		"runtime":          "runtime: runc",
		"storage_opt":      "storage_opt: {size: 100G}",
		"ulimits nproc":    "ulimits: {nproc: 65535}",
		"network host":     "network_mode: host",
		"cgroup_parent":    "cgroup_parent: /",
		"security_opt":     "security_opt: [seccomp=unconfined]",
		"userns":           "userns_mode: host",
		"devices":          "devices: [/dev/kmsg]",
		"sysctls":          "sysctls: {net.ipv4.ip_forward: 1}",
		"api socket":       "use_api_socket: true",
		"oom_score_adj":    "oom_score_adj: -1000",
		"env key with =":   `environment: {"A=B": x}`,
	}
	for name, line := range refused {
		t.Run("refused "+name, func(t *testing.T) {
			_, err := parse("services:\n  web:\n    image: x\n    " + line + "\n")
			if err == nil || len(Problems(err)) == 0 || Problems(err)[0].Service != "web" {
				t.Fatalf("%s: accepted or not naming the service: %v", line, err)
			}
		})
	}
	for _, tc := range []struct{ line, key string }{
		{"shm_size: 1g", "shm_size"}, {"extra_hosts: ['a:1.2.3.4']", "extra_hosts"}, {"pids_limit: 100", "pids_limit"},
		{"ulimits: {nofile: 1024}", "ulimits"}, {"read_only: true", "read_only"}, {"cpu_shares: 512", "cpu_shares"},
		{"labels: {a: b}", "labels"}, {"tmpfs: /t\n    volumes: [{type: tmpfs, target: /x, tmpfs: {size: 1000}}]", "volumes[0].tmpfs.size"},
		{"deploy: {resources: {reservations: {memory: 1g}}}", "deploy.resources.reservations.memory"},
	} {
		t.Run("warned "+tc.key, func(t *testing.T) {
			p, err := parse("services:\n  web:\n    image: x\n    " + tc.line + "\n")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, w := range p.Warnings {
				if w.Service == "web" && strings.HasPrefix(w.Msg, tc.key+" ") {
					found = true
				}
			}
			if !found {
				t.Fatalf("no warning naming web and %s: %v", tc.key, p.Warnings)
			}
		})
	}
	// Positive control: a file using only applied keys parses without a word.
	p, err := parse(`
services:
  web:
    image: x
    command: [sleep, "1"]
    environment: {A: b}
    user: "1000"
    working_dir: /srv
    hostname: web
    restart: unless-stopped
    cap_add: [NET_BIND_SERVICE]
    ports: ["8080"]
    healthcheck: {test: [CMD, "true"], interval: 5s}
    volumes: ["data:/data", "./site:/site:ro"]
    tmpfs: [/tmp]
    deploy: {resources: {limits: {cpus: "0.5", memory: 64M}}}
  db:
    image: y
    depends_on: {web: {condition: service_started}}
    mem_limit: 32m
    cpus: 0.2
volumes:
  data: {}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 0 {
		t.Fatalf("applied keys warned: %v", p.Warnings)
	}
	// Top-level volume options.
	if _, err := parse("services:\n  web:\n    image: x\n    volumes: [v:/v]\nvolumes:\n  v: {driver_opts: {type: none, o: bind, device: /etc}}\n"); err == nil ||
		!regexp.MustCompile(`driver_opts that mount a host path`).MatchString(err.Error()) {
		t.Fatalf("driver_opts bind: %v", err)
	}
}

func TestBindMountsStayInside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/var/run/docker.sock", filepath.Join(dir, "docker.sock")); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(context.Background(), "services:\n  a:\n    image: x\n    volumes: ['./docker.sock:/var/run/docker.sock']\n", Options{ProjectName: "demo", Dir: dir}); err == nil ||
		!strings.Contains(err.Error(), "docker.sock") {
		t.Fatalf("symlink to the socket: %v", err)
	}
	for _, bad := range []string{"/", "/var/run", "/var"} {
		_, err := Parse(context.Background(), "services:\n  a:\n    image: x\n    volumes: ['./docker.sock:/s']\n", Options{ProjectName: "demo", Dir: bad})
		var de *DirError
		if err == nil || !asDirError(err, &de) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("directory %s: %v", bad, err)
		}
	}
	p, err := Parse(context.Background(), "services:\n  a:\n    image: x\n    volumes: ['./ok.txt:/ok.txt:ro']\n", Options{ProjectName: "demo", Dir: dir})
	if err != nil || p.Services[0].Mounts[0].Source != filepath.Join(dir, "ok.txt") {
		t.Fatalf("positive control: %v %+v", err, p)
	}
}

func asDirError(err error, target **DirError) bool {
	de, ok := err.(*DirError)
	*target = de
	return ok
}
