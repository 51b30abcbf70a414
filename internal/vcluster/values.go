package vcluster

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// ValidateValues checks a template's vcluster_values without a cluster: empty,
// or YAML whose top level is a mapping.
func ValidateValues(content string) error {
	_, err := ParseValues(content)
	return err
}

// ParseValues parses chart values: nil for blank (or null) content, an error when
// the top level is not a mapping.
func ParseValues(content string) (map[string]any, error) {
	if strings.TrimSpace(content) == "" {
		return nil, nil
	}
	var v any
	if err := yaml.Unmarshal([]byte(content), &v); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	switch m := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return m, nil
	default:
		return nil, fmt.Errorf("must be a YAML mapping of chart values (such as \"controlPlane: {...}\"), got %s", yamlKind(v))
	}
}

func yamlKind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, int64, int:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// deepCopyValues copies nested maps and lists of chart values.
func deepCopyValues(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopyValues(t)
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopyValue(e)
		}
		return l
	}
	return v
}

// Values builds the chart values: the control plane's images, resources and
// labels, persistence, CoreDNS, telemetry off; then the provider's extra values, then
// the template's (tmpl.VClusterValues), merged last. labels go on the control plane's
// workload, pods and Service; nil leaves them out (the session-independent values the
// fingerprint hashes).
//
// The chart hashes all of its values into the control-plane pod template
// (vClusterConfigHash), so anything that changes between two updates of one session
// restarts the control plane, and without persistence the virtual cluster loses its
// state. labels must therefore never carry the expiry (the Kubernetes backend's
// valueLabels drops it).
func Values(s Settings, tmpl *workshop.Template, labels map[string]string) (map[string]any, error) {
	tmplValues, err := ParseValues(templateValues(tmpl))
	if err != nil {
		return nil, fmt.Errorf("vcluster_values: %w", err)
	}
	statefulSet := map[string]any{"resources": controlPlaneResources(s), "probes": controlPlaneProbes}
	k8sDistro := map[string]any{"enabled": true}
	if len(labels) > 0 {
		statefulSet["labels"] = toAny(labels)
		statefulSet["pods"] = map[string]any{"labels": toAny(labels)}
	}
	if s.ImagePullPolicy != "" {
		k8sDistro["imagePullPolicy"] = s.ImagePullPolicy
		statefulSet["imagePullPolicy"] = s.ImagePullPolicy
	}
	if s.ControlPlaneImage != "" {
		repo, tag, _ := SplitImage(s.ControlPlaneImage)
		k8sDistro["image"] = map[string]any{"registry": "", "repository": repo, "tag": tag}
	}
	if s.SyncerImage != "" {
		repo, tag, _ := SplitImage(s.SyncerImage)
		statefulSet["image"] = map[string]any{"registry": "", "repository": repo, "tag": tag}
	}
	vc := map[string]any{"enabled": false}
	if s.Persistence {
		vc = map[string]any{"enabled": true, "size": s.PersistenceSize, "retentionPolicy": "Retain"}
		if s.StorageClass != "" {
			vc["storageClass"] = s.StorageClass
		}
	}
	statefulSet["persistence"] = map[string]any{"volumeClaim": vc}
	dnsDeployment := map[string]any{
		"resources": map[string]any{
			"limits":   map[string]any{"cpu": milliQuantity(DNSCPUMilli), "memory": byteQuantity(DNSMemoryBytes)},
			"requests": map[string]any{"cpu": "10m", "memory": "32Mi"},
		},
	}
	if s.CoreDNSImage != "" {
		dnsDeployment["image"] = s.CoreDNSImage
	}
	coredns := map[string]any{"enabled": true, "deployment": dnsDeployment}
	controlPlane := map[string]any{
		"distro":      map[string]any{"k8s": k8sDistro},
		"statefulSet": statefulSet,
		"coredns":     coredns,
	}
	if len(labels) > 0 {
		controlPlane["service"] = map[string]any{"labels": toAny(labels)}
	}
	if len(s.ExtraSANs) > 0 {
		sans := make([]any, len(s.ExtraSANs))
		for i, v := range s.ExtraSANs {
			sans[i] = v
		}
		controlPlane["proxy"] = map[string]any{"extraSANs": sans}
	}
	vals := map[string]any{
		"controlPlane": controlPlane,
		"telemetry":    map[string]any{"enabled": false},
	}
	// MergeValues writes into its base: merge into copies, so that neither package-level
	// maps nor the provider's parsed values (shared by every call) are changed.
	vals = MergeValues(deepCopyValues(vals), deepCopyValues(s.extra))
	return MergeValues(vals, tmplValues), nil
}

func templateValues(t *workshop.Template) string {
	if t == nil {
		return ""
	}
	return t.VClusterValues
}

// controlPlaneResources are the control-plane container's limits and requests.
func controlPlaneResources(s Settings) map[string]any {
	return map[string]any{
		"limits": map[string]any{
			"cpu": milliQuantity(s.CPUMilli), "memory": byteQuantity(s.MemBytes),
			"ephemeral-storage": "8Gi",
		},
		"requests": map[string]any{
			"cpu": milliQuantity(max(s.CPUMilli/40, 10)), "memory": byteQuantity(s.MemBytes / 4),
			"ephemeral-storage": "200Mi",
		},
	}
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// The CoreDNS deployment's limits: part of the vCluster overhead in the session quota.
const (
	DNSCPUMilli    = 100
	DNSMemoryBytes = 128 * 1024 * 1024
)

// milliQuantity and byteQuantity print quantities as the Kubernetes backend's
// ResourceQuota does ("1500m", "256Mi").
func milliQuantity(v int64) string {
	return resource.NewMilliQuantity(v, resource.DecimalSI).String()
}

func byteQuantity(v int64) string { return resource.NewQuantity(v, resource.BinarySI).String() }

// MergeValues merges over into base (maps key by key, anything else replaces) and
// returns base.
func MergeValues(base, over map[string]any) map[string]any {
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				base[k] = MergeValues(bm, vm)
				continue
			}
		}
		base[k] = v
	}
	return base
}

// controlPlaneProbes probe the control plane every second instead of the chart's 6 s
// (startup) and 2 s (readiness), with the same overall budgets: the session is ready
// as soon as the virtual API is, not up to a probe period later.
var controlPlaneProbes = map[string]any{
	"startupProbe":   map[string]any{"periodSeconds": 1, "failureThreshold": 1800},
	"readinessProbe": map[string]any{"periodSeconds": 1, "failureThreshold": 120},
}
