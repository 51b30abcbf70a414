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

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/acctest/deviceplugin"
)

// vclusterObjectName is the annotation the vCluster syncer puts on a host pod: the
// virtual pod's name.
const vclusterObjectName = "vcluster.loft.sh/object-name"

// checkGPUVClusterWorkspace: a vcluster session's workspace pod (a pod of the host
// namespace) asks for gpus of fakeGPU with the template's placement and runs on node,
// and the host quota allows exactly gpus, all used.
func checkGPUVClusterWorkspace(t *testing.T, addr, node, runtimeClass string, gpus int64) resource.TestCheckFunc {
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
		res := pod.Spec.Containers[0].Resources
		lim, req := res.Limits[corev1.ResourceName(fakeGPU)], res.Requests[corev1.ResourceName(fakeGPU)]
		if lim.Value() != gpus || req.Value() != gpus {
			return fmt.Errorf("%s: workspace %s limit %s request %s, want %d", addr, fakeGPU, lim.String(), req.String(), gpus)
		}
		if pod.Spec.NodeSelector["kubernetes.io/hostname"] != node || pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName != runtimeClass ||
			!slices.ContainsFunc(pod.Spec.Tolerations, func(tl corev1.Toleration) bool {
				return tl.Key == "nalabo.io/gpu-test" && tl.Operator == corev1.TolerationOpExists && tl.Effect == corev1.TaintEffectNoSchedule
			}) {
			return fmt.Errorf("%s: placement: node selector %v, runtime class %v, tolerations %v", addr, pod.Spec.NodeSelector, pod.Spec.RuntimeClassName, pod.Spec.Tolerations)
		}
		if pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName != node {
			return fmt.Errorf("%s: workspace %s on %q, want Running on %s", addr, pod.Status.Phase, pod.Spec.NodeName, node)
		}
		q, err := admin.CoreV1().ResourceQuotas(ns).Get(ctx, "nalabo-quota", metav1.GetOptions{})
		if err != nil {
			return err
		}
		key := corev1.ResourceName("requests." + fakeGPU)
		h, ok := q.Spec.Hard[key]
		if u := q.Status.Used[key]; !ok || h.Value() != gpus || u.Value() != gpus {
			return fmt.Errorf("%s: host quota %s hard %s (set: %v) used %s, want %d and %d", addr, key, h.String(), ok, u.String(), gpus, gpus)
		}
		return nil
	}
}

// checkGPUVClusterGrab: inside the session's virtual cluster (its participant
// kubeconfig, cluster-admin there) a pod asking for one more GPU is accepted by the
// virtual API but never reaches the host: the syncer reports the host quota's refusal
// as a SyncError event on the virtual pod, which stays Pending. A pod without GPU
// created the same way is synced and runs (positive control).
func checkGPUVClusterGrab(t *testing.T, addr string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		ns, err := stateAttr(s, addr, "namespace")
		if err != nil {
			return err
		}
		vc, err := vclusterClient(s, addr)
		if err != nil {
			return err
		}
		for _, p := range []*corev1.Pod{gpuPod("grab", 1), gpuPod("plain", 0)} {
			if _, err := vc.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("%s: create virtual pod %s: %w", addr, p.Name, err)
			}
		}
		var last string
		for {
			ev, plain, hostPods, err := grabState(ctx, t, vc, ns)
			switch {
			case err != nil:
				last = err.Error()
			case slices.Contains(hostPods, "grab"):
				return fmt.Errorf("%s: the GPU pod of the virtual cluster reached the host namespace %s", addr, ns)
			case ev != "" && plain == corev1.PodRunning && slices.Contains(hostPods, "plain"):
				if !strings.Contains(ev, "exceeded quota") || !strings.Contains(ev, fakeGPU) {
					return fmt.Errorf("%s: the syncer's event on the GPU pod: %q, want a host quota refusal naming %s", addr, ev, fakeGPU)
				}
				t.Logf("%s: the syncer on the virtual GPU pod: %s", addr, ev)
				return nil
			default:
				last = fmt.Sprintf("GPU pod event %q, plain pod %s, host pods %v", ev, plain, hostPods)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: in the virtual cluster: %s", addr, last)
			case <-time.After(2 * time.Second):
			}
		}
	}
}

// grabState reads the newest SyncError event of the virtual pod "grab", the phase of
// the virtual pod "plain" and the virtual names of the host namespace's synced pods.
func grabState(ctx context.Context, t *testing.T, vc *vcClient, ns string) (event string, plain corev1.PodPhase, hostPods []string, err error) {
	evs, err := vc.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=grab,reason=SyncError"})
	if err != nil {
		return "", "", nil, err
	}
	if n := len(evs.Items); n > 0 {
		event = evs.Items[n-1].Message
	}
	p, err := vc.CoreV1().Pods("default").Get(ctx, "plain", metav1.GetOptions{})
	if err != nil {
		return "", "", nil, err
	}
	pods, err := k8sAdmin(t).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", "", nil, err
	}
	for _, hp := range pods.Items {
		if n := hp.Annotations[vclusterObjectName]; n != "" {
			hostPods = append(hostPods, n)
		}
	}
	return event, p.Status.Phase, hostPods, nil
}

// TestAccGPUVClusterFakeDevices: with the fake device plugin advertising two
// nvidia.com/gpu on the test node, a vcluster session with gpu = 1 runs its workspace
// pod (in the host namespace) with the GPU limit, the template's node selector,
// toleration and runtime class, on the node, and the plugin allocated a device; the
// host quota allows that one GPU: a pod asking for another inside the virtual cluster
// stays unsynced with the syncer's quota error while a pod without GPU runs. A vcluster
// session with gpu = 0 has a zero GPU quota and cannot take one either.
func TestAccGPUVClusterFakeDevices(t *testing.T) {
	provider := vclusterProviderConfig(t, "")
	testAccSetup(t)
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

	name := acctest.RandName("gpuvc")
	pa, pz := name+"-ada", name+"-zed"
	config := provider + fmt.Sprintf(`
resource "nalabo_workshop_template" "t" {
  name                = %q
  infrastructure_type = "kubernetes"
  isolation           = "vcluster"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  resources          = { cpu = "1", memory = "1Gi", gpu = 1 }
  node_selector      = { "kubernetes.io/hostname" = %q }
  runtime_class_name = %q
  toleration {
    key      = "nalabo.io/gpu-test"
    operator = "Exists"
    effect   = "NoSchedule"
  }
}

resource "nalabo_workshop_session" "a" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
}

resource "nalabo_workshop_session" "z" {
  template_id = nalabo_workshop_template.t.id
  participant = %q
  resources   = { gpu = 0 }
}
`, name, node, rc, pa, pz)
	var namespaces []string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             vclusterCheckDestroy(t, &namespaces, pa, pz),
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				func(s *terraform.State) error {
					for _, addr := range []string{"nalabo_workshop_session.a", "nalabo_workshop_session.z"} {
						ns, err := stateAttr(s, addr, "namespace")
						if err != nil {
							return err
						}
						namespaces = append(namespaces, ns)
					}
					return nil
				},
				resource.TestCheckResourceAttr("nalabo_workshop_session.a", "status", "running"),
				resource.TestCheckResourceAttr("nalabo_workshop_session.a", "effective_resources.gpu", "1"),
				resource.TestCheckResourceAttr("nalabo_workshop_session.a", "effective_resources.gpu_resource", fakeGPU),
				resource.TestCheckResourceAttr("nalabo_workshop_session.z", "status", "running"),
				resource.TestCheckResourceAttr("nalabo_workshop_session.z", "effective_resources.gpu", "0"),
				resource.TestCheckNoResourceAttr("nalabo_workshop_session.z", "effective_resources.gpu_resource"),
				checkGPUVClusterWorkspace(t, "nalabo_workshop_session.a", node, rc, 1),
				checkGPUVClusterWorkspace(t, "nalabo_workshop_session.z", node, rc, 0),
				func(*terraform.State) error {
					if n := plugin.Allocations(); n < 1 {
						return fmt.Errorf("the device plugin allocated %d times, want at least 1", n)
					}
					return nil
				},
				checkGPUVClusterGrab(t, "nalabo_workshop_session.a"),
				checkGPUVClusterGrab(t, "nalabo_workshop_session.z"),
			),
		}},
	})
}
