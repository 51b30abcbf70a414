package kubernetes

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func unitSpec() *workshop.SessionSpec {
	now := time.Unix(1_800_000_000, 0).UTC()
	return &workshop.SessionSpec{
		ID: "abc123", Participant: "ada", CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour),
		Template: &workshop.Template{
			ID: "kubernetes.intro.0123456789ab", Name: "intro", Infrastructure: workshop.InfraKubernetes,
			Isolation: workshop.IsolationNamespace, Workspace: workshop.Workspace{Image: "shell:1", Env: map[string]string{"LANG": "C.UTF-8"}},
		},
	}
}

func TestNamespaceLabels(t *testing.T) {
	ns := namespaceObject(unitSpec())
	if ns.Name != "nalabo-session-abc123" {
		t.Fatalf("name %s", ns.Name)
	}
	for k, v := range map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
		"pod-security.kubernetes.io/audit": "restricted", workshop.LabelSession: "abc123",
		workshop.LabelExpiresAt: "1800003600", workshop.LabelManagedBy: workshop.ManagedByValue,
	} {
		if ns.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, ns.Labels[k], v)
		}
	}
	spec := unitSpec()
	spec.Template.PodSecurity = "baseline"
	if got := namespaceObject(spec).Labels["pod-security.kubernetes.io/enforce"]; got != "baseline" {
		t.Errorf("enforce = %s", got)
	}
}

func TestWorkspacePodIsRestricted(t *testing.T) {
	res := workshop.ParsedResources{MilliCPU: 2000, MemoryBytes: 4 << 30}
	pod := workspacePod(unitSpec(), metav1.ObjectMeta{Name: workspacePodName}, res, nil)
	sc := pod.Spec.Containers[0].SecurityContext
	psc := pod.Spec.SecurityContext
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken ||
		!*psc.RunAsNonRoot || *psc.RunAsUser != 1000 || psc.SeccompProfile.Type != "RuntimeDefault" ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
		t.Fatalf("pod is not restricted-compliant: %+v %+v", psc, sc)
	}
	lim := pod.Spec.Containers[0].Resources.Limits
	if lim.Cpu().MilliValue() != 1000 || lim.Memory().Value() != 2<<30 {
		t.Fatalf("limits %v", lim)
	}
	var env []string
	for _, e := range pod.Spec.Containers[0].Env {
		env = append(env, e.Name+"="+e.Value)
	}
	if strings.Join(env, ",") != "HOME=/home/nalabo,KUBECONFIG=/home/nalabo/.kube/config,LANG=C.UTF-8" {
		t.Fatalf("env %v", env)
	}
}

func TestQuotaRoundTrip(t *testing.T) {
	res := workshop.ParsedResources{MilliCPU: 1500, MemoryBytes: 3 << 30, StorageBytes: 20 << 30}
	q := quotaObject(metav1.ObjectMeta{}, res)
	got := resourcesFromQuota(q)
	if got != (workshop.Resources{CPU: "1500m", Memory: "3Gi", Storage: "20Gi"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestPodWaiting(t *testing.T) {
	pod := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
		"containerStatuses": []any{map[string]any{"name": "workspace", "state": map[string]any{
			"waiting": map[string]any{"reason": "ErrImageNeverPull", "message": "image not present"},
		}}},
	}}}
	reason, fatal := podWaiting(pod)
	if !fatal || reason != "workspace: ErrImageNeverPull: image not present" {
		t.Fatalf("%q %v", reason, fatal)
	}
}

func TestWrapCommand(t *testing.T) {
	got := wrapCommand(&workshop.ExecRequest{Command: []string{"ls"}, WorkingDir: "/tmp",
		Env: map[string]string{"A": "it's", workshop.ExecMarkerEnv: "theirs"}}, "ours")
	want := []string{"/bin/sh", "-c", `cd '/tmp' || exit 126; export A='it'"'"'s'; export NALABO_EXEC_ID='theirs'; ` +
		`export NALABO_EXEC_ID='ours'; exec "$@"`, "nalabo-exec", "ls"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
	got = wrapCommand(&workshop.ExecRequest{Command: []string{"sleep", "1"}}, "m")
	want = []string{"/bin/sh", "-c", `export NALABO_EXEC_ID='m'; exec "$@"`, "nalabo-exec", "sleep", "1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("an empty config must be refused")
	}
	b, err := New(Config{Host: "https://127.0.0.1:1", Token: "x", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.cfg.Namespace != DefaultNamespace || b.Host() != "https://127.0.0.1:1" {
		t.Fatalf("%+v", b.cfg)
	}
	if _, err := New(Config{Host: "https://h", Namespace: "Not_Valid"}); err == nil {
		t.Fatal("an invalid namespace must be refused")
	}
}
