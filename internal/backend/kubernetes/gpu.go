package kubernetes

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// GPUs of a namespace session: the workspace pod's requests and limits of the GPU's
// extended resource (what a device plugin advertises, nvidia.com/gpu by default), and
// the session quota's requests.<resource> (for extended resources only the requests.*
// key is valid), so that no pod of the participant's can take more. A session without
// GPU gets requests.nvidia.com/gpu = 0: a participant cannot grab the class's GPUs from
// a plain session. The template's pods (manifests) are governed by the same quota.
// The template's node_selector, tolerations and runtime_class_name go on the workspace
// pod only: the participant's own pods choose their placement, within the quota.

// gpuQuota adds the session's GPU quota to hard.
func gpuQuota(hard corev1.ResourceList, res workshop.ParsedResources) {
	if res.GPUs > 0 {
		hard[requestsOf(res.GPUResource)] = *resource.NewQuantity(res.GPUs, resource.DecimalSI)
		return
	}
	hard[requestsOf(workshop.DefaultGPUResource)] = *resource.NewQuantity(0, resource.DecimalSI)
}

func requestsOf(name string) corev1.ResourceName {
	return corev1.ResourceName(corev1.DefaultResourceRequestsPrefix + name)
}

// gpusFromQuota reads the GPUs back from a session quota ("" when none).
func gpusFromQuota(q *corev1.ResourceQuota) (count, name string) {
	for k, v := range q.Spec.Hard {
		res, ok := strings.CutPrefix(string(k), corev1.DefaultResourceRequestsPrefix)
		if !ok || !strings.Contains(res, "/") || v.Value() <= 0 {
			continue
		}
		return strconv.FormatInt(v.Value(), 10), res
	}
	return "", ""
}

// nodeGPUs adds a node's allocatable GPUs (the extended resources a GPU may be named
// by, such as nvidia.com/gpu or amd.com/gpu) to into.
func nodeGPUs(into map[string]int64, allocatable corev1.ResourceList) {
	for k, v := range allocatable {
		if v.Value() > 0 && strings.Contains(string(k), "/") && workshop.ValidateGPUResource(string(k)) == nil {
			into[string(k)] += v.Value()
		}
	}
}

// withGPUs puts the session's GPUs and the template's placement on the workspace pod.
func withGPUs(pod *corev1.Pod, t *workshop.Template, res workshop.ParsedResources) {
	if res.GPUs > 0 {
		c := &pod.Spec.Containers[0]
		n := *resource.NewQuantity(res.GPUs, resource.DecimalSI)
		c.Resources.Requests[corev1.ResourceName(res.GPUResource)] = n
		c.Resources.Limits[corev1.ResourceName(res.GPUResource)] = n
	}
	if t == nil {
		return
	}
	if len(t.NodeSelector) > 0 {
		pod.Spec.NodeSelector = map[string]string{}
		for k, v := range t.NodeSelector {
			pod.Spec.NodeSelector[k] = v
		}
	}
	for _, tol := range t.Tolerations {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: tol.Key, Operator: corev1.TolerationOperator(tol.Operator), Value: tol.Value,
			Effect: corev1.TaintEffect(tol.Effect), TolerationSeconds: tol.Seconds,
		})
	}
	if t.RuntimeClassName != "" {
		pod.Spec.RuntimeClassName = &t.RuntimeClassName
	}
}

// podUnschedulable is the scheduler's reason a pod is not placed (its PodScheduled
// condition: "Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."),
// "" when it is scheduled or not yet considered.
func podUnschedulable(pod *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(pod.Object, "status", "conditions")
	for _, item := range conds {
		c, ok := item.(map[string]any)
		if !ok || c["type"] != string(corev1.PodScheduled) || c["status"] != string(corev1.ConditionFalse) {
			continue
		}
		reason, _ := c["reason"].(string)
		msg, _ := c["message"].(string)
		return strings.TrimSuffix("not scheduled: "+reason+": "+msg, ": ")
	}
	return ""
}
