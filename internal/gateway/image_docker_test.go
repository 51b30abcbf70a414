package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/gateway/token"
)

// TestDockerGatewayImage runs the gateway image (examples/deploy/gateway/Dockerfile) as
// its README runs it: non-root, read-only, no capabilities, the host's network and the
// Docker socket; the access URL opens the page and the compose web port, the API runs a
// command, and the audit file gets the records. It runs when NALABO_GATEWAY_IMAGE names
// the image (built as examples/deploy/gateway/README.md says).
func TestDockerGatewayImage(t *testing.T) {
	dockerIntegration(t)
	image := os.Getenv("NALABO_GATEWAY_IMAGE")
	if image == "" {
		t.Skip("NALABO_GATEWAY_IMAGE is not set (docker build -f examples/deploy/gateway/Dockerfile ...)")
	}
	b := newDocker(t)
	s := createSession(t, b, dockerWebTemplate(t, b), "olga", time.Hour)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	auditDir := t.TempDir()
	if err := os.Chmod(auditDir, 0o777); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat("/var/run/docker.sock")
	if err != nil {
		t.Fatal(err)
	}
	gid := acctest.As[*syscall.Stat_t](t, fi.Sys()).Gid
	name := acctest.RandName("nalabo-gtest-gateway")
	run := exec.Command("docker", "run", "-d", "--name", name, "--network", "host",
		"--user", fmt.Sprintf("65532:%d", gid), "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", auditDir+":/audit",
		"-e", EnvSigningKey+"="+testSigningKey, "-e", EnvAPIKeys+"=lms="+testAPIKey, "-e", "DOCKER_NETWORK="+testNetworkPrefix,
		image, "--listen="+addr, "--audit-file=/audit/audit.jsonl", "--backend=docker")
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("gateway container:\n%s", logs)
		}
		_ = exec.Command("docker", "rm", "-f", name).Run()
	})
	base := "http://" + addr
	waitFor(t, time.Minute, "the gateway container is ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	key, err := token.NewKey(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := key.Sign(s.ID, s.ExpiresAt)
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: tok})
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/s/" + s.ID + "/"); code != 200 || !strings.Contains(body, ">olga<") {
		t.Fatalf("page: %d %s", code, body)
	}
	if code, body := get("/s/" + s.ID + "/port/8080/"); code != 200 || !strings.Contains(body, "hello from web") {
		t.Fatalf("web port from the container: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", base+"/api/workshops/sessions/"+s.ID+"/execute", strings.NewReader(`{"command":"echo $((6*7))"}`))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"stdout":"42\n"`) {
		t.Fatalf("execute: %d %s", resp.StatusCode, body)
	}
	audit, err := os.ReadFile(filepath.Join(auditDir, "audit.jsonl"))
	if err != nil || !strings.Contains(string(audit), `"event":"execute"`) || !strings.Contains(string(audit), `"event":"port"`) {
		t.Fatalf("audit file: %v\n%s", err, audit)
	}
}
