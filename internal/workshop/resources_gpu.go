package workshop

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// GPUs. A session asks for whole GPUs of one extended resource: on Kubernetes the
// resource a device plugin advertises (nvidia.com/gpu, amd.com/gpu, gpu.intel.com/i915),
// on Docker a device request of the NVIDIA driver (only nvidia.com/gpu).

// DefaultGPUResource is the GPU resource name when a template gives none.
const DefaultGPUResource = "nvidia.com/gpu"

// MaxGPUs bounds one session's GPU count (a typo such as "10000" fails the plan).
const MaxGPUs = 64

// ParseGPUCount parses a GPU count: a whole number from 0 (no GPU) to MaxGPUs.
func ParseGPUCount(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number of GPUs (examples: \"1\", \"2\"; \"0\" for none)", s)
	}
	if n < 0 || n > MaxGPUs {
		return 0, fmt.Errorf("%q is outside 0-%d", s, MaxGPUs)
	}
	return n, nil
}

// ValidateGPUResource checks an extended resource name: a domain-prefixed name
// ("nvidia.com/gpu") outside the kubernetes.io domain, as Kubernetes requires of
// resources a device plugin advertises.
func ValidateGPUResource(s string) error {
	domain, name, ok := strings.Cut(s, "/")
	if !ok || domain == "" || name == "" || !strings.Contains(domain, ".") {
		return fmt.Errorf("%q is not an extended resource name: write <vendor domain>/<name>, for example %q", s, DefaultGPUResource)
	}
	if errs := validation.IsQualifiedName(s); len(errs) > 0 {
		return fmt.Errorf("%q is not an extended resource name: %s", s, strings.Join(errs, "; "))
	}
	if domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return fmt.Errorf("%q is in the kubernetes.io domain, which no device plugin may use", s)
	}
	return nil
}

// parseGPU parses the GPU count and resource name (see ParsedResources).
func (r Resources) parseGPU() (int64, string, error) {
	var n int64
	if r.GPU != "" {
		var err error
		if n, err = ParseGPUCount(r.GPU); err != nil {
			return 0, "", fmt.Errorf("gpu: %w", err)
		}
	}
	if r.GPUResource != "" {
		if err := ValidateGPUResource(r.GPUResource); err != nil {
			return 0, "", fmt.Errorf("gpu_resource: %w", err)
		}
	}
	if n == 0 {
		return 0, "", nil
	}
	res := r.GPUResource
	if res == "" {
		res = DefaultGPUResource
	}
	return n, res, nil
}

// Toleration is a Kubernetes toleration of the session's workspace pod.
type Toleration struct {
	Key      string `json:"key,omitempty"`
	Operator string `json:"operator,omitempty"` // "Equal" (default) or "Exists"
	Value    string `json:"value,omitempty"`
	Effect   string `json:"effect,omitempty"` // "", NoSchedule, PreferNoSchedule, NoExecute
	// Seconds is how long a NoExecute taint is tolerated (nil: forever).
	Seconds *int64 `json:"toleration_seconds,omitempty"`
}

// Toleration operators and effects, for validators and docs.
var (
	TolerationOperators = []string{"Equal", "Exists"}
	TolerationEffects   = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// ValidateScheduling checks the Kubernetes scheduling settings of a template
// (node_selector, toleration blocks, runtime_class_name) and where a GPU may run, and refuses them elsewhere.
// Both Kubernetes isolations take a GPU: a vcluster session's workspace pod is a pod of
// the host namespace (placed and limited like a namespace session's), and the host quota
// bounds the GPUs of the pods the syncer copies from the virtual cluster.
func (t *Template) ValidateScheduling() []error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	if t.Infrastructure != InfraKubernetes {
		if len(t.NodeSelector) > 0 {
			add("node_selector", "applies to kubernetes templates only; this template has infrastructure_type %q", t.Infrastructure)
		}
		if len(t.Tolerations) > 0 {
			add("toleration", "applies to kubernetes templates only; this template has infrastructure_type %q", t.Infrastructure)
		}
		if t.RuntimeClassName != "" {
			add("runtime_class_name", "applies to kubernetes templates only; this template has infrastructure_type %q", t.Infrastructure)
		}
	}
	for k, v := range t.NodeSelector {
		if e := validation.IsQualifiedName(k); len(e) > 0 {
			add("node_selector", "key %q is not a label key: %s", k, strings.Join(e, "; "))
		}
		if e := validation.IsValidLabelValue(v); len(e) > 0 {
			add("node_selector", "value %q of %q is not a label value: %s", v, k, strings.Join(e, "; "))
		}
	}
	for i, tol := range t.Tolerations {
		errs = append(errs, tol.validate(fmt.Sprintf("toleration[%d]", i))...)
	}
	if t.RuntimeClassName != "" {
		if e := validation.IsDNS1123Subdomain(t.RuntimeClassName); len(e) > 0 {
			add("runtime_class_name", "%q is not a RuntimeClass name: %s", t.RuntimeClassName, strings.Join(e, "; "))
		}
	}
	if t.Infrastructure == InfraDocker && t.Resources.GPUResource != "" && t.Resources.GPUResource != DefaultGPUResource {
		add("resources", "gpu_resource %q: docker sessions get NVIDIA GPUs only (gpu_resource %q)", t.Resources.GPUResource, DefaultGPUResource)
	}
	if t.Infrastructure == InfraSwarm && (t.Resources.GPU != "" || t.Resources.GPUResource != "") {
		add("resources", "gpu is not supported on swarm templates (Swarm services get no device requests)")
	}
	return errs
}

func (tol Toleration) validate(path string) []error {
	var errs []error
	add := func(format string, a ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	op := tol.Operator
	if op == "" {
		op = "Equal"
	}
	switch op {
	case "Equal":
		if tol.Key == "" {
			add("operator \"Equal\" needs a key (an empty key with operator \"Exists\" tolerates every taint)")
		}
	case "Exists":
		if tol.Value != "" {
			add("operator \"Exists\" takes no value")
		}
	default:
		add("operator must be one of %s, got %q", strings.Join(TolerationOperators, ", "), tol.Operator)
	}
	if tol.Key != "" {
		if e := validation.IsQualifiedName(tol.Key); len(e) > 0 {
			add("key %q is not a taint key: %s", tol.Key, strings.Join(e, "; "))
		}
	}
	if tol.Effect != "" && !slices.Contains(TolerationEffects, tol.Effect) {
		add("effect must be one of %s (or empty for all), got %q", strings.Join(TolerationEffects, ", "), tol.Effect)
	}
	if tol.Seconds != nil && tol.Effect != "NoExecute" {
		add("toleration_seconds applies to effect \"NoExecute\" only")
	}
	return errs
}
