package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestDockerGatewayApplyDockerfile: POST .../apply with type dockerfile builds the image
// (empty context) and, with run, starts it as a service of the session that the
// workspace reaches; yaml is refused on Docker (a 422 naming type, nothing runs).
func TestDockerGatewayApplyDockerfile(t *testing.T) {
	dockerIntegration(t)
	b := newDocker(t)
	s := createSession(t, b, dockerTemplate(t, b), "otto", time.Hour)
	g := startGateway(t, b)

	body, _ := json.Marshal(map[string]any{
		"configuration": "FROM nalabo-test/shell:1\nRUN echo built-by-the-api > /built\nCMD [\"sleep\", \"infinity\"]\n",
		"type":          "dockerfile", "run": true, "service_name": "tool",
	})
	r := g.api(t, "POST", s.ID+"/apply", testAPIKey, string(body))
	var got applyResponse
	if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil || got.ID == "" || got.Image == "" {
		t.Fatalf("apply dockerfile: %d %s", r.code, r.body)
	}
	t.Logf("built %s and ran it in %d ms: %+v", got.Image, got.DurationMS, got.Objects)
	res, err := b.Exec(ctxFor(t, time.Minute), s.ID, &workshop.ExecRequest{Container: "tool", Command: []string{"cat", "/built"}})
	if err != nil || res.Stdout != "built-by-the-api\n" {
		t.Fatalf("the built service: %v %+v", err, res)
	}
	// The control's opposite: a build that fails is reported, with its id.
	body, _ = json.Marshal(map[string]any{"configuration": "FROM nalabo-test/shell:1\nRUN exit 7\n", "type": "dockerfile"})
	if r := g.api(t, "POST", s.ID+"/apply", testAPIKey, string(body)); r.code == 200 || !strings.Contains(r.body, `"id"`) {
		t.Errorf("failing build: %d %s", r.code, r.body)
	}
	body, _ = json.Marshal(map[string]any{"configuration": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "type": "yaml"})
	if r := g.api(t, "POST", s.ID+"/apply", testAPIKey, string(body)); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "type") {
		t.Errorf("yaml on Docker: %d %s", r.code, r.body)
	}
}
