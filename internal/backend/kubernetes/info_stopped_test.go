package kubernetes

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// TestPingStoppedSessionKubernetes: on the test cluster, a persistent namespace session
// reserves its quota while it runs and only what its namespace still requests (the
// quota's used figures: nothing here, the template has no workloads) once stopped.
// Positive control: the figures before the stop, and after the resume.
func TestPingStoppedSessionKubernetes(t *testing.T) {
	b := testBackend(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id := workshop.NewSessionID()
	ns := workshop.SessionObjectName(id)
	testHomeVolume(t, b, ns)
	createTestNamespaceSession(ctx, t, b, id, "stopped-figures", workshop.Resources{CPU: "700m", Memory: "384Mi", Storage: "1Gi"},
		&workshop.Persistence{Size: "64Mi", RetainDays: 1})

	// Other tests share the cluster, so Ping's totals move under this test: it checks
	// what Ping adds up for this session (TestPingCapacity checks the sums), around
	// the stop and the resume.
	figures := func() (stopped bool, cpu, mem int64) {
		t.Helper()
		names, err := b.stoppedNamespaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		q, err := b.cs.CoreV1().ResourceQuotas(ns).Get(ctx, quotaName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reserved := q.Spec.Hard
		if names[ns] {
			reserved = q.Status.Used
		}
		c, m := reserved[corev1.ResourceRequestsCPU], reserved[corev1.ResourceRequestsMemory]
		return names[ns], c.MilliValue(), m.Value()
	}
	if stopped, cpu, mem := figures(); stopped || cpu != 700 || mem != 384<<20 {
		t.Errorf("running: stopped %v, %dm, %d bytes; want false, 700m, 384Mi (its quota)", stopped, cpu, mem)
	}
	if err := b.StopSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The quota controller recounts the namespace's requests once the pod is gone.
	deadline := time.Now().Add(time.Minute)
	for {
		stopped, cpu, mem := figures()
		if stopped && cpu == 0 && mem == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the stop: stopped %v, %dm, %d bytes; want true, 0, 0 (no pod left)", stopped, cpu, mem)
		}
		time.Sleep(time.Second)
	}
	if info, err := b.Ping(ctx); err != nil || info.StoppedSessions < 1 {
		t.Errorf("Ping after the stop: %+v, %v; want at least this stopped session", info, err)
	}
	if _, err := b.StartSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if stopped, cpu, mem := figures(); stopped || cpu != 700 || mem != 384<<20 {
		t.Errorf("resumed: stopped %v, %dm, %d bytes; want false, 700m, 384Mi", stopped, cpu, mem)
	}
}

// createTestNamespaceSession creates the session id for participant "ada" of a
// namespace template called name (a sleeping workspace, no manifests) with res and p;
// both are removed when the test ends.
func createTestNamespaceSession(ctx context.Context, t *testing.T, b *Backend, id, name string, res workshop.Resources, p *workshop.Persistence) {
	t.Helper()
	tpl, err := b.ApplyTemplate(ctx, &workshop.Template{
		Name: name, Infrastructure: workshop.InfraKubernetes, Isolation: workshop.IsolationNamespace,
		Workspace: workshop.Workspace{Image: "nalabo-test/k8s-workspace:1", Command: []string{"sleep", "infinity"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	now := time.Now().UTC().Truncate(time.Second)
	spec := &workshop.SessionSpec{
		ID: id, Template: tpl, Participant: "ada", Resources: res,
		CreatedAt: now, Duration: time.Hour, ExpiresAt: now.Add(time.Hour), Persistence: p,
	}
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), id) })
	if _, err := b.CreateSession(ctx, spec); err != nil {
		t.Fatal(err)
	}
}

// testHomeVolume makes a hostPath PersistentVolume reserved for the home claim of the
// session namespace ns (the test cluster has no storage class), removed when the test
// ends.
func testHomeVolume(t *testing.T, b *Backend, ns string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil { //nolint:gosec // the workspace runs as a non-root user
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "nalabo-test-" + ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("100Mi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: homeClaimName},
		},
	}
	if _, err := b.cs.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.cs.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
	})
}
