package kubernetes

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func node(name, cpu, mem string, mutate func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
	}}}
	if mutate != nil {
		mutate(n)
	}
	return n
}

// The capacity is the allocatable of the nodes sessions can run on, lowered by the
// control namespace's quota when that is tighter; sessions' quotas are what is used.
func TestPingCapacity(t *testing.T) {
	sessionQuota := quotaObject(metav1.ObjectMeta{Name: "nalabo-quota", Namespace: "nalabo-session-abc",
		Labels: map[string]string{workshop.LabelManagedBy: workshop.ManagedByValue, workshop.LabelSession: "abc"}},
		workshop.ParsedResources{MilliCPU: 300, MemoryBytes: 256 << 20})
	objs := []runtime.Object{
		node("a", "2", "8Gi", nil),
		node("b", "1500m", "4Gi", nil),
		node("cordoned", "4", "16Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
		node("control-plane", "4", "16Gi", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
		}),
		sessionQuota,
	}
	ping := func(extra ...runtime.Object) *workshop.Info {
		t.Helper()
		all := append(append([]runtime.Object{}, objs...), extra...)
		b := &Backend{cfg: Config{Namespace: "nalabo"}, rest: &rest.Config{Host: "https://fake"}, cs: fake.NewClientset(all...)}
		info, err := b.Ping(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	info := ping()
	if info.AllocatableMilliCPU != 3500 || info.AllocatableMemory != 12<<30 {
		t.Errorf("allocatable = %dm, %d bytes; want 3500m and 12Gi (schedulable nodes only)", info.AllocatableMilliCPU, info.AllocatableMemory)
	}
	if info.UsedMilliCPU != 300 || info.UsedMemory != 256<<20 || info.Sessions != 1 {
		t.Errorf("used = %dm, %d bytes, %d sessions; want 300m, 256Mi, 1", info.UsedMilliCPU, info.UsedMemory, info.Sessions)
	}
	if info.Details["capacity_source"] != "nodes' allocatable" || info.Details["schedulable_nodes"] != "2" {
		t.Errorf("details = %v", info.Details)
	}

	// A stopped persistent session (its namespace keeps the stopped workspace) reserves
	// only what its remaining workloads request (the quota's used figures); it is
	// still a session. Positive control: the same namespace running counts its quota.
	sessionLabels := map[string]string{workshop.LabelManagedBy: workshop.ManagedByValue, workshop.LabelSession: "def"}
	stoppedQuota := quotaObject(metav1.ObjectMeta{Name: "nalabo-quota", Namespace: "nalabo-session-def", Labels: sessionLabels},
		workshop.ParsedResources{MilliCPU: 1000, MemoryBytes: 1 << 30, GPUs: 1, GPUResource: "nvidia.com/gpu"})
	stoppedQuota.Status.Used = corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("50m"), corev1.ResourceRequestsMemory: resource.MustParse("16Mi")}
	ns := func(annotations map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nalabo-session-def", Labels: sessionLabels, Annotations: annotations}}
	}
	info = ping(stoppedQuota, ns(map[string]string{annotationStoppedWorkspace: "{}"}))
	if info.UsedMilliCPU != 350 || info.UsedMemory != 272<<20 || info.Sessions != 2 || info.StoppedSessions != 1 || info.UsedGPUs["nvidia.com/gpu"] != 0 {
		t.Errorf("with a stopped session: used = %dm, %d bytes, %d sessions (%d stopped); want 350m, 272Mi, 2 (1)",
			info.UsedMilliCPU, info.UsedMemory, info.Sessions, info.StoppedSessions)
	}
	// An identity that may not list namespaces (the gateway's) still pings: the
	// stopped session's quota counts whole.
	forbidden := fake.NewClientset(append(append([]runtime.Object{}, objs...), stoppedQuota, ns(map[string]string{annotationStoppedWorkspace: "{}"}))...)
	forbidden.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "", errors.New("no list"))
	})
	b := &Backend{cfg: Config{Namespace: "nalabo"}, rest: &rest.Config{Host: "https://fake"}, cs: forbidden}
	if info, err := b.Ping(context.Background()); err != nil || info.UsedMilliCPU != 1300 || info.StoppedSessions != 0 {
		t.Errorf("namespaces not listable: %+v, %v; want 1300m reserved, no stopped session", info, err)
	}
	info = ping(stoppedQuota, ns(nil))
	if info.UsedMilliCPU != 1300 || info.UsedMemory != 1280<<20 || info.Sessions != 2 || info.StoppedSessions != 0 || info.UsedGPUs["nvidia.com/gpu"] != 1 {
		t.Errorf("with the same session running: used = %dm, %d bytes, %d sessions (%d stopped); want 1300m, 1280Mi, 2 (0)",
			info.UsedMilliCPU, info.UsedMemory, info.Sessions, info.StoppedSessions)
	}

	// A tighter quota in the control namespace is the class budget.
	budget := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "classes", Namespace: "nalabo"}, Spec: corev1.ResourceQuotaSpec{
		Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("1"), corev1.ResourceRequestsMemory: resource.MustParse("64Gi")}}}
	info = ping(budget)
	if info.AllocatableMilliCPU != 1000 || info.AllocatableMemory != 12<<30 {
		t.Errorf("with a 1-CPU quota: allocatable = %dm, %d bytes; want 1000m and 12Gi (the tighter of each)", info.AllocatableMilliCPU, info.AllocatableMemory)
	}
	if info.Details["capacity_source"] != "ResourceQuota nalabo/classes" {
		t.Errorf("capacity_source = %q", info.Details["capacity_source"])
	}
}
