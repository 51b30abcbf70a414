package kubernetes

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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

// TestPersistentHome: with persistence the home is the "home" claim (sized, labelled,
// and the namespace carries the persistence labels); a stopped namespace without its
// pod is stopped, not degraded, and expired past its expiry.
func TestPersistentHome(t *testing.T) {
	spec := unitSpec()
	if v := homeVolume(spec); v.EmptyDir == nil {
		t.Fatalf("without persistence: %+v", v)
	}
	spec.Persistence = &workshop.Persistence{Size: "256Mi", RetainDays: 2}
	if v := homeVolume(spec); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != homeClaimName {
		t.Fatalf("with persistence: %+v", v)
	}
	if _, err := checkSpec(spec); err != nil {
		t.Fatalf("256Mi home in the default storage: %v", err)
	}
	big := *spec
	big.Persistence = &workshop.Persistence{Size: "2Gi"}
	big.Resources.Storage = "1Gi"
	if _, err := checkSpec(&big); err == nil || !strings.Contains(err.Error(), "persistence.size 2Gi is more than the session's storage 1Gi") {
		t.Fatalf("2Gi home in 1Gi of storage: %v", err)
	}
	ns := namespaceObject(spec)
	claim, err := homeClaim(metav1.ObjectMeta{Namespace: ns.Name, Labels: spec.Labels()}, spec.Persistence)
	if err != nil {
		t.Fatal(err)
	}
	if q := claim.Spec.Resources.Requests["storage"]; q.Value() != 256<<20 || claim.Labels[workshop.LabelRole] != workshop.RoleVolume {
		t.Fatalf("claim: %+v", claim)
	}
	if p := sessionFromNamespace(ns).Persistence; p == nil || *p != *spec.Persistence {
		t.Fatalf("persistence read back: %+v", p)
	}
	ns.Labels[workshop.LabelSession] = spec.ID
	ns.Annotations[annotationStoppedWorkspace] = `{"metadata":{"name":"workspace"}}`
	q := quotaObject(metav1.ObjectMeta{}, workshop.ParsedResources{MilliCPU: 500, MemoryBytes: 1 << 28})
	sec := &corev1.Secret{}
	if s := assembleSession(ns, q, sec, false, nil, spec.ExpiresAt.Add(-time.Minute)); s.Status != workshop.StatusStopped || !s.Stopped {
		t.Errorf("stopped: status %s stopped %v", s.Status, s.Stopped)
	}
	if s := assembleSession(ns, q, sec, false, nil, spec.ExpiresAt.Add(time.Minute)); s.Status != workshop.StatusExpired {
		t.Errorf("stopped and expired: status %s", s.Status)
	}
	delete(ns.Annotations, annotationStoppedWorkspace)
	if s := assembleSession(ns, q, sec, false, nil, spec.ExpiresAt.Add(-time.Minute)); s.Status != workshop.StatusDegraded {
		t.Errorf("pod missing without the stop annotation: status %s (want degraded)", s.Status)
	}
}

// The stop's record of the workloads it scaled down reads back as written; none is an
// empty record; a garbled one is an error naming the annotation.
func TestStoppedWorkloadsRecord(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nalabo-session-abc123"}}
	rec, err := readStoppedWorkloads(ns)
	if err != nil || len(rec.Replicas) != 0 || len(rec.Pods) != 0 {
		t.Fatalf("no annotation: %+v, %v", rec, err)
	}
	ns.Annotations = map[string]string{annotationStoppedWorkloads: `{"replicas":{"Deployment/web":2,"StatefulSet/db":1},"pods":[{"metadata":{"name":"job"}}]}`}
	rec, err = readStoppedWorkloads(ns)
	if err != nil || rec.Replicas["Deployment/web"] != 2 || len(rec.Pods) != 1 || rec.Pods[0].Name != "job" {
		t.Fatalf("record: %+v, %v", rec, err)
	}
	if got := strings.Join(sortedKeys(rec.Replicas), ","); got != "Deployment/web,StatefulSet/db" {
		t.Errorf("sortedKeys = %s", got)
	}
	ns.Annotations[annotationStoppedWorkloads] = "{"
	if _, err := readStoppedWorkloads(ns); err == nil || !strings.Contains(err.Error(), annotationStoppedWorkloads) {
		t.Errorf("garbled record: %v", err)
	}
	if _, ok := scaledKindOf("DaemonSet"); ok {
		t.Error("DaemonSets have no replicas to scale")
	}
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	if replicasOf(u) != 1 {
		t.Error("replicas default to 1")
	}
	_ = unstructured.SetNestedField(u.Object, int64(0), "spec", "replicas")
	if replicasOf(u) != 0 {
		t.Error("replicas 0")
	}
}

// An unbound claim is waited for (the volume controller binds it soon); any other reason
// the scheduler gives fails the wait at once (positive control).
func TestWaitsForClaim(t *testing.T) {
	if !waitsForClaim("not scheduled: Unschedulable: 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.") {
		t.Error("an unbound claim is a failure")
	}
	if waitsForClaim("not scheduled: Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.") || waitsForClaim("") {
		t.Error("a lack of GPUs (or no reason) is waited for")
	}
}
