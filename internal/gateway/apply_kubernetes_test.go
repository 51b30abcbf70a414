package gateway

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestKubernetesGatewayApplyAndExecute on a namespace session of the test cluster:
// POST .../apply with type yaml creates the objects in the session's namespace,
// re-applying with the returned id replaces them (an object the new configuration drops
// is pruned), and a document for another namespace is refused; POST .../execute with a
// timeout returns timed_out and the process is gone afterwards (a command without a
// timeout is the control that ps sees such processes).
func TestKubernetesGatewayApplyAndExecute(t *testing.T) {
	b := kubeBackend(t) // skips without the test cluster
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: acctest.RandName("gwapply"), Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	s := createSession(t, b, tpl, "pia", time.Hour)
	g := startGateway(t, b)
	rc, err := clientcmd.BuildConfigFromFlags("", os.Getenv("NALABO_K8S_KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cs := k8s.NewForConfigOrDie(rc)
	ns := workshop.SessionObjectName(s.ID)

	t.Run("execute timeout", func(t *testing.T) {
		// Control: a backgrounded sleep outlives its execute and ps shows it.
		r := g.api(t, "POST", s.ID+"/execute", testAPIKey, `{"command":"sleep 4241 >/dev/null 2>&1 & echo started","timeout":20000}`)
		var e executeResponse
		if r.code != 200 || json.Unmarshal([]byte(r.body), &e) != nil || e.Stdout != "started\n" || e.TimedOut {
			t.Fatalf("execute: %d %s", r.code, r.body)
		}
		res, err := b.Exec(ctxFor(t, time.Minute), s.ID, &workshop.ExecRequest{Command: []string{"ps", "-ef"}})
		if err != nil || !strings.Contains(res.Stdout, "sleep 4241") {
			t.Fatalf("positive control: ps does not show the sleep: %v %+v", err, res)
		}
		start := time.Now()
		r = g.api(t, "POST", s.ID+"/execute", testAPIKey, `{"command":"sleep 4242","timeout":500}`)
		took := time.Since(start)
		if r.code != 200 || json.Unmarshal([]byte(r.body), &e) != nil || !e.TimedOut || e.ExitCode != -1 || e.KillError != "" || took > 20*time.Second {
			t.Fatalf("execute with timeout: %d %s after %s", r.code, r.body, took)
		}
		t.Logf("execute with a 500 ms timeout answered in %s: %s", took.Round(time.Millisecond), r.body)
		res, err = b.Exec(ctxFor(t, time.Minute), s.ID, &workshop.ExecRequest{Command: []string{"ps", "-ef"}})
		if err != nil || strings.Contains(res.Stdout, "sleep 4242") {
			t.Fatalf("the timed-out command still runs: %v %s", err, res.Stdout)
		}
	})

	t.Run("apply yaml", func(t *testing.T) {
		body := func(cfg, id string) string {
			m := map[string]string{"configuration": cfg, "type": "yaml"}
			if id != "" {
				m["id"] = id
			}
			raw, _ := json.Marshal(m)
			return string(raw)
		}
		const two = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: step}\ndata: {v: one}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {v: x}\n"
		r := g.api(t, "POST", s.ID+"/apply", testAPIKey, body(two, ""))
		var got applyResponse
		if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil || got.ID == "" || len(got.Objects) != 2 {
			t.Fatalf("apply yaml: %d %s", r.code, r.body)
		}
		t.Logf("applied %s in %d ms: %+v", got.ID, got.DurationMS, got.Objects)
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctxFor(t, time.Minute), "step", metav1.GetOptions{})
		if err != nil || cm.Data["v"] != "one" || cm.Labels[workshop.LabelApply] != got.ID {
			t.Fatalf("the applied ConfigMap: %v %+v", err, cm)
		}
		// Same id: step replaced, extra pruned.
		r = g.api(t, "POST", s.ID+"/apply", testAPIKey, body("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: step}\ndata: {v: two}\n", got.ID))
		var again applyResponse
		if r.code != 200 || json.Unmarshal([]byte(r.body), &again) != nil || again.ID != got.ID || !again.Replaced {
			t.Fatalf("re-apply: %d %s", r.code, r.body)
		}
		if cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctxFor(t, time.Minute), "step", metav1.GetOptions{}); err != nil || cm.Data["v"] != "two" {
			t.Fatalf("after the re-apply: %v %+v", err, cm)
		}
		waitFor(t, time.Minute, "the dropped ConfigMap is gone", func() bool {
			_, err := cs.CoreV1().ConfigMaps(ns).Get(ctxFor(t, time.Minute), "extra", metav1.GetOptions{})
			return err != nil && strings.Contains(err.Error(), "not found")
		})
		// Another namespace: refused, and nothing created there.
		r = g.api(t, "POST", s.ID+"/apply", testAPIKey, body("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: escape, namespace: default}\ndata: {v: x}\n", ""))
		if r.code == 200 {
			t.Fatalf("a document for namespace default was applied: %s", r.body)
		}
		if _, err := cs.CoreV1().ConfigMaps("default").Get(ctxFor(t, time.Minute), "escape", metav1.GetOptions{}); err == nil {
			t.Fatal("a ConfigMap reached namespace default")
		}
		t.Logf("another namespace: %d %s", r.code, r.body)
		var rec *AuditRecord
		for _, x := range g.audit.records(t) {
			if x.Event == AuditApply && x.Result == "ok" && x.Type == "yaml" {
				rec = &x
			}
		}
		if rec == nil || rec.Who != "api:lms" || rec.Session != s.ID {
			t.Errorf("apply audit record: %+v", rec)
		}
	})
}
