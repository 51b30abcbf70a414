package provider

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/deviceplugin"
)

const fakeGPU = "nvidia.com/gpu"

// waitNodeGPUs waits until the test node's allocatable fakeGPU count is want and
// returns the node's name.
func waitNodeGPUs(t *testing.T, cs k8s.Interface, want int64) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var last string
	for {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil && len(nodes.Items) == 1 {
			n := nodes.Items[0]
			q := n.Status.Allocatable[corev1.ResourceName(fakeGPU)]
			if q.Value() == want {
				return n.Name
			}
			last = fmt.Sprintf("node %s allocatable %s = %s", n.Name, fakeGPU, q.String())
		} else {
			last = fmt.Sprintf("nodes: %v (%v)", err, nodes)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d allocatable %s: %s", want, fakeGPU, last)
		case <-time.After(time.Second):
		}
	}
}

// waitPodRunning waits until pod ns/name runs.
func waitPodRunning(t *testing.T, cs k8s.Interface, ns, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s/%s does not run: %v %v", ns, name, err, p)
		case <-time.After(time.Second):
		}
	}
}

// gpuPod is a Pod Security "restricted" pod asking for gpus of fakeGPU (none: 0).
func gpuPod(name string, gpus int64) *corev1.Pod {
	c := corev1.Container{Name: "c", Image: "nalabo-test/k8s-workspace:1", ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{"sleep", "infinity"},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(1000)),
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}}
	if gpus > 0 {
		q := mustQuantity(fmt.Sprint(gpus))
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceName(fakeGPU): q}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

// checkGPUSession: the workspace pod asks for one GPU and carries the template's
// placement, got a device from the plugin, and the quota allows one GPU, used; the
// participant cannot take another (quota), but may run a pod without (positive control).
func checkGPUSession(t *testing.T, addr, node, runtimeClass string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ns, err := stateAttr(s, addr, "namespace")
		if err != nil {
			return err
		}
		admin := k8sAdmin(t)
		pod, err := admin.CoreV1().Pods(ns).Get(ctx, "workspace", metav1.GetOptions{})
		if err != nil {
			return err
		}
		c := pod.Spec.Containers[0]
		if q := c.Resources.Limits[corev1.ResourceName(fakeGPU)]; q.Value() != 1 {
			return fmt.Errorf("%s: workspace limit %s = %s, want 1", addr, fakeGPU, q.String())
		}
		if pod.Spec.NodeSelector["kubernetes.io/hostname"] != node || pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName != runtimeClass ||
			!slices.ContainsFunc(pod.Spec.Tolerations, func(tl corev1.Toleration) bool {
				return tl.Key == "nalabo.io/gpu-test" && tl.Operator == corev1.TolerationOpExists && tl.Effect == corev1.TaintEffectNoSchedule
			}) {
			return fmt.Errorf("%s: placement: node selector %v, runtime class %v, tolerations %v", addr, pod.Spec.NodeSelector, pod.Spec.RuntimeClassName, pod.Spec.Tolerations)
		}
		if pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName != node {
			return fmt.Errorf("%s: workspace %s on %q", addr, pod.Status.Phase, pod.Spec.NodeName)
		}
		q, err := admin.CoreV1().ResourceQuotas(ns).Get(ctx, "nalabo-quota", metav1.GetOptions{})
		if err != nil {
			return err
		}
		key := corev1.ResourceName("requests." + fakeGPU)
		if h, u := q.Spec.Hard[key], q.Status.Used[key]; h.Value() != 1 || u.Value() != 1 {
			return fmt.Errorf("%s: quota %s hard %s used %s, want 1 and 1", addr, key, h.String(), u.String())
		}
		cs, _, err := participantClient(s, addr)
		if err != nil {
			return err
		}
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		_, err = cs.CoreV1().Pods(ns).Create(ctx, gpuPod("grab", 1), dry)
		if err == nil || !strings.Contains(err.Error(), "exceeded quota") || !strings.Contains(err.Error(), fakeGPU) {
			return fmt.Errorf("%s: a participant's pod asking for one more GPU: got %v, want a quota refusal naming %s", addr, err, fakeGPU)
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, gpuPod("plain", 0), dry); err != nil {
			return fmt.Errorf("%s: a participant's pod without GPU must be allowed: %w", addr, err)
		}
		return nil
	}
}

// checkNoGPUSession: a session with gpu = 0 has a zero GPU quota: its participant
// cannot take one of the class's GPUs, but runs a pod without (positive control).
func checkNoGPUSession(t *testing.T, addr string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cs, ns, err := participantClient(s, addr)
		if err != nil {
			return err
		}
		q, err := k8sAdmin(t).CoreV1().ResourceQuotas(ns).Get(ctx, "nalabo-quota", metav1.GetOptions{})
		if err != nil {
			return err
		}
		key := corev1.ResourceName("requests." + fakeGPU)
		if h, ok := q.Spec.Hard[key]; !ok || !h.IsZero() {
			return fmt.Errorf("%s: quota %s = %s (set: %v), want 0", addr, key, h.String(), ok)
		}
		dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, gpuPod("grab", 1), dry); err == nil || !strings.Contains(err.Error(), "exceeded quota") {
			return fmt.Errorf("%s: a GPU pod in a session without GPU: got %v, want a quota refusal", addr, err)
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, gpuPod("plain", 0), dry); err != nil {
			return fmt.Errorf("%s: a pod without GPU must be allowed: %w", addr, err)
		}
		return nil
	}
}

// TestAccGPUKubernetesFakeDevices: with a fake device plugin advertising two
// nvidia.com/gpu on the test node, two one-GPU sessions run (limits, quota, node
// selector, toleration and runtime class on the workspace pod; the plugin allocated
// their devices), a third one fails within its create timeout with the scheduler's
// reason and leaves nothing, and each session's quota refuses a pod asking for more; a
// session with gpu = 0 on the same template can take none.
func TestAccGPUKubernetesFakeDevices(t *testing.T) {
	testAccSetup(t)
	kc := k8sKubeconfig(t)
	admin := k8sAdmin(t)
	ctx := context.Background()
	plugin, err := deviceplugin.Start(ctx, fakeGPU, 2)
	if err != nil {
		t.Fatalf("fake device plugin: %v", err)
	}
	t.Cleanup(func() {
		plugin.Stop()
		waitNodeGPUs(t, admin, 0) // other tests see no GPU again
	})
	node := waitNodeGPUs(t, admin, 2)

	rc := acctest.RandName("nalabo-acc-runc")
	if _, err := admin.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: rc}, Handler: "runc"},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.NodeV1().RuntimeClasses().Delete(context.Background(), rc, metav1.DeleteOptions{}) })

	name := acctest.RandName("gpu")
	pa, pb, pc, pz := acctest.RandName("ada"), acctest.RandName("bob"), acctest.RandName("cyd"), acctest.RandName("zed")
	session := func(res, participant, extra string) string {
		return fmt.Sprintf(`
resource "nalabo_workshop_session" %q {
  template_id = nalabo_workshop_template.t.id
  participant = %q
%s}
`, res, participant, extra)
	}
	// config is a, z and the sessions named in with ("b", "c").
	config := func(with ...string) string {
		c := k8sProviderConfig(kc) + fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources          = { cpu = "500m", memory = "256Mi", storage = "1Gi", gpu = 1 }
  node_selector      = { "kubernetes.io/hostname" = %q }
  runtime_class_name = %q
  toleration {
    key      = "nalabo.io/gpu-test"
    operator = "Exists"
    effect   = "NoSchedule"
  }
}
`, name, node, rc) + session("a", pa, "") + session("z", pz, "  resources = { gpu = 0 }\n")
		if slices.Contains(with, "b") {
			c += session("b", pb, "")
		}
		if slices.Contains(with, "c") {
			c += session("c", pc, "  timeouts = {\n    create = \"40s\"\n  }\n")
		}
		deps := []string{"nalabo_workshop_session.a", "nalabo_workshop_session.z"}
		for _, w := range with {
			deps = append(deps, "nalabo_workshop_session."+w)
		}
		// Read once the sessions exist: the GPUs they reserve.
		return c + fmt.Sprintf("\ndata \"nalabo_infrastructure\" \"this\" {\n  depends_on = [%s]\n}\n", strings.Join(deps, ", "))
	}
	// hog is a pod outside any session that takes one GPU (another team's job).
	hogNS := acctest.RandName("nalabo-acc-gpuhog")
	hog := func() {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hogNS}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = admin.CoreV1().Namespaces().Delete(context.Background(), hogNS, metav1.DeleteOptions{}) })
		p := gpuPod("hog", 1)
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
		p.Spec.Tolerations = []corev1.Toleration{{Key: "nalabo.io/gpu-test", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		if _, err := admin.CoreV1().Pods(hogNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPodRunning(t, admin, hogNS, "hog")
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             k8sCheckDestroy(t, pa, pb, pc, pz),
		Steps: []resource.TestStep{
			{
				Config: config("b"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "effective_resources.gpu", "1"),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "effective_resources.gpu_resource", fakeGPU),
					resource.TestCheckResourceAttr("nalabo_workshop_session.b", "status", "running"),
					resource.TestCheckResourceAttr("data.nalabo_infrastructure.this", "backends.kubernetes.allocatable_gpus."+fakeGPU, "2"),
					resource.TestCheckResourceAttr("data.nalabo_infrastructure.this", "backends.kubernetes.used_gpus."+fakeGPU, "2"),
					checkGPUSession(t, "nalabo_workshop_session.a", node, rc),
					checkGPUSession(t, "nalabo_workshop_session.b", node, rc),
					resource.TestCheckResourceAttr("nalabo_workshop_session.z", "effective_resources.gpu", "0"),
					resource.TestCheckNoResourceAttr("nalabo_workshop_session.z", "effective_resources.gpu_resource"),
					checkNoGPUSession(t, "nalabo_workshop_session.z"),
					func(*terraform.State) error {
						if n := plugin.Allocations(); n < 2 {
							return fmt.Errorf("the device plugin allocated %d times, want at least 2", n)
						}
						return nil
					},
				),
			},
			{
				// Both GPUs are reserved by a and b: the class admission refuses a
				// third GPU session at plan time, with the figures (positive control:
				// two were admitted above).
				Config:      config("b", "c"),
				ExpectError: wrapped("needs 1 " + fakeGPU + " (1 new sessions planned so far) + 2 reserved by live sessions = 3"),
			},
			{
				// b goes: one GPU is free as far as sessions go, and another team's pod
				// takes it. c is admitted (1 + 1 of 2) but stays unscheduled; its create
				// ends at its timeout with the scheduler's reason, leaving nothing.
				Config: config(),
				Check:  k8sCheckDestroy(t, pb),
			},
			{
				PreConfig:   hog,
				Config:      config("c"),
				ExpectError: wrapped("Insufficient " + fakeGPU),
			},
			{
				Config: config(),
				Check: resource.ComposeAggregateTestCheckFunc(
					k8sCheckDestroy(t, pc),
					resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
				),
			},
		},
	})
}
