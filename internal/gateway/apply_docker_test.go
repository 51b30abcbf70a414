package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestDockerGatewayApply: POST .../apply runs a Compose file in a real Docker session
// (the service answers by name from the workspace), re-applying with the returned id
// replaces it, and nalabo_apply's checks (plus no bind mount from the API) refuse bad
// configurations before anything runs.
func TestDockerGatewayApply(t *testing.T) {
	dockerIntegration(t)
	b := newDocker(t)
	s := createSession(t, b, dockerTemplate(t, b), "ivy", time.Hour)
	g := startGateway(t, b)

	body := func(cfg, typ, id string) string {
		m := map[string]string{"configuration": cfg, "type": typ}
		if id != "" {
			m["id"] = id
		}
		raw, _ := json.Marshal(m)
		return string(raw)
	}
	const svc = "services:\n  cache:\n    image: nalabo-test/shell:1\n    command: [\"sh\", \"-c\", \"echo %s > /data/v; sleep infinity\"]\n    volumes: [\"data:/data\"]\nvolumes:\n  data: {}\n"
	r := g.api(t, "POST", s.ID+"/apply", testAPIKey, body(strings.Replace(svc, "%s", "one", 1), "compose", ""))
	var got applyResponse
	if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil || got.ID == "" || len(got.Objects) == 0 {
		t.Fatalf("apply: %d %s", r.code, r.body)
	}
	t.Logf("applied %s in %d ms: %+v", got.ID, got.DurationMS, got.Objects)
	// The service runs: its file, read from inside it.
	readV := func() string {
		var out string
		waitFor(t, 30*time.Second, "the service wrote its file", func() bool {
			res, err := b.Exec(ctxFor(t, time.Minute), s.ID, &workshop.ExecRequest{Container: "cache", Command: []string{"cat", "/data/v"}})
			if err == nil && res.ExitCode == 0 {
				out = res.Stdout
			}
			return out != ""
		})
		return out
	}
	if v := readV(); v != "one\n" {
		t.Fatalf("the applied service wrote %q", v)
	}
	// Same id: replaced, not added.
	r = g.api(t, "POST", s.ID+"/apply", testAPIKey, body(strings.Replace(svc, "%s", "two", 1), "compose", got.ID))
	var again applyResponse
	if r.code != 200 || json.Unmarshal([]byte(r.body), &again) != nil || again.ID != got.ID || !again.Replaced {
		t.Fatalf("re-apply: %d %s", r.code, r.body)
	}
	sess, err := b.GetSession(ctxFor(t, time.Minute), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range sess.Containers {
		if strings.HasSuffix(c, "-cache") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("containers after the re-apply: %v", sess.Containers)
	}
	if v := readV(); v != "two\n" && v != "one\ntwo\n" {
		t.Fatalf("after the re-apply the service wrote %q", v)
	}

	for _, tc := range []struct {
		name, body string
		want       int
		msg        string
	}{
		{"bind mount", body("services:\n  x:\n    image: nalabo-test/shell:1\n    volumes: [\"/etc:/host-etc\"]\n", "compose", ""), http.StatusBadRequest, "bind mount"},
		{"build", body("services:\n  x:\n    build: .\n", "compose", ""), http.StatusBadRequest, "build is not available"},
		{"env_file", body("services:\n  x:\n    image: a\n    env_file: /etc/shadow\n", "compose", ""), http.StatusBadRequest, "env_file is not available"},
		{"unknown compose key", body("services:\n  x:\n    image: a\n    bogus: 1\n", "compose", ""), http.StatusBadRequest, "bogus"},
		{"dockerfile without FROM", body("RUN echo hi\n", "dockerfile", ""), http.StatusBadRequest, "FROM"},
		{"yaml without kind", body("apiVersion: v1\nmetadata: {name: x}\n", "yaml", ""), http.StatusBadRequest, "kind"},
		{"bad type", body("x", "helm", ""), http.StatusBadRequest, "type"},
		{"bad id", body("FROM scratch\n", "dockerfile", "NOT-HEX"), http.StatusBadRequest, "id:"},
		{"unknown field", `{"configuration":"FROM scratch","type":"dockerfile","context":"/etc"}`, http.StatusBadRequest, "unknown field"},
		{"oversized", body("FROM scratch\n# "+strings.Repeat("x", maxBodyBytes), "dockerfile", ""), http.StatusRequestEntityTooLarge, "exceeds"},
	} {
		r := g.api(t, "POST", s.ID+"/apply", testAPIKey, tc.body)
		if r.code != tc.want || !strings.Contains(r.body, tc.msg) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, r.code, r.body, tc.want, tc.msg)
		}
	}
	if r := g.api(t, "POST", s.ID+"/apply", "platform-key-wrong-0123456789", body("FROM scratch\n", "dockerfile", "")); r.code != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", r.code)
	}
	if r := g.api(t, "POST", "0123456789/apply", testAPIKey, body("FROM scratch\n", "dockerfile", "")); r.code != http.StatusNotFound {
		t.Errorf("wrong session: %d", r.code)
	}
	var rec *AuditRecord
	for _, x := range g.audit.records(t) {
		if x.Event == AuditApply && x.Result == "ok" {
			rec = &x
		}
	}
	if rec == nil || rec.Who != "api:lms" || rec.Type != "compose" || rec.Session != s.ID {
		t.Errorf("apply audit record: %+v", rec)
	}
}
