package kubernetes

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// VClusterConfig configures isolation = "vcluster": the vCluster Helm chart installed per
// session and the images and values it runs with.
type VClusterConfig struct {
	// ChartPath is a local chart directory or .tgz archive. When set, ChartRepository
	// is not used.
	ChartPath string
	// ChartRepository (default DefaultVClusterChartRepository), ChartName (default
	// "vcluster") and ChartVersion (default DefaultVClusterChartVersion) locate the
	// chart in a Helm repository; it is downloaded once into Helm's cache.
	ChartRepository string
	ChartName       string
	ChartVersion    string

	// SyncerImage, ControlPlaneImage and CoreDNSImage are image references
	// ("[registry/]repository:tag"); empty keeps the chart's default.
	SyncerImage       string
	ControlPlaneImage string
	CoreDNSImage      string
	// ImagePullPolicy of the control plane's containers: "", Always, IfNotPresent, Never.
	ImagePullPolicy string

	// ControlPlaneCPU and ControlPlaneMemory are the control-plane container's limits
	// (defaults 2000m and 1Gi; requests a fortieth and a quarter: 50m and 256Mi). A
	// limit of one CPU throttled the start of the control plane's three processes (about
	// 30 s to ready instead of 22 s here); the small CPU request lets a class of ten
	// schedule on a 2-core node (at the chart's own 200m request, ten control planes
	// already ask for two CPUs). They are the
	// vCluster's overhead, added to the session's quota on top of the participant's
	// resources, and do not follow the session's resources: a change restarts the
	// control plane, which loses the virtual cluster's state without persistence.
	ControlPlaneCPU    string
	ControlPlaneMemory string

	// Persistence keeps the virtual cluster's data (kine's sqlite) on a PVC
	// data-<release>-0 of PersistenceSize (default 1Gi) and StorageClass instead of an
	// emptyDir. The chart retains that PVC; DeleteSession removes it and its volume.
	Persistence     bool
	PersistenceSize string
	StorageClass    string

	// Values is YAML merged over the provider's values, last (maps merge key by key,
	// anything else replaces).
	Values string

	// ParticipantServer is the API address written into the participant's kubeconfig;
	// "{namespace}", "{release}" and "{id}" are replaced. Default: the vCluster
	// Service's in-cluster address (https://<ClusterIP>:443). Its host must be in the
	// certificate: list it in ExtraSANs.
	ParticipantServer string
	ExtraSANs         []string

	// APIAccess is how the provider reaches a virtual API: "port-forward" (default,
	// client-go port-forward to the control-plane pod through the host API, re-established
	// on failure) or "service" (the vCluster Service's ClusterIP, when this process can
	// route to service addresses).
	APIAccess string
}

// Defaults of VClusterConfig.
const (
	DefaultVClusterChartRepository = "https://charts.loft.sh"
	DefaultVClusterChartName       = "vcluster"
	DefaultVClusterChartVersion    = "0.30.0"
	DefaultVClusterControlCPU      = "2000m"
	DefaultVClusterControlMemory   = "1Gi"
	DefaultVClusterPersistenceSize = "1Gi"

	VClusterAccessPortForward = "port-forward"
	VClusterAccessService     = "service"
)

// vclusterSettings is VClusterConfig with defaults filled and quantities parsed.
type vclusterSettings struct {
	VClusterConfig
	cpuMilli, memBytes int64
	extra              map[string]any
}

func (c VClusterConfig) settings() (vclusterSettings, error) {
	s := vclusterSettings{VClusterConfig: c}
	if s.ChartRepository == "" {
		s.ChartRepository = DefaultVClusterChartRepository
	}
	if s.ChartName == "" {
		s.ChartName = DefaultVClusterChartName
	}
	if s.ChartVersion == "" {
		s.ChartVersion = DefaultVClusterChartVersion
	}
	if s.ControlPlaneCPU == "" {
		s.ControlPlaneCPU = DefaultVClusterControlCPU
	}
	if s.ControlPlaneMemory == "" {
		s.ControlPlaneMemory = DefaultVClusterControlMemory
	}
	if s.PersistenceSize == "" {
		s.PersistenceSize = DefaultVClusterPersistenceSize
	}
	if s.APIAccess == "" {
		s.APIAccess = VClusterAccessPortForward
	}
	switch s.APIAccess {
	case VClusterAccessPortForward, VClusterAccessService:
	default:
		return s, fmt.Errorf("vcluster api_access %q: want %q or %q", s.APIAccess, VClusterAccessPortForward, VClusterAccessService)
	}
	switch corev1.PullPolicy(s.ImagePullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return s, fmt.Errorf("vcluster image_pull_policy %q: want Always, IfNotPresent or Never", s.ImagePullPolicy)
	}
	cpu, err := resource.ParseQuantity(s.ControlPlaneCPU)
	if err != nil || cpu.Sign() <= 0 {
		return s, fmt.Errorf("vcluster control-plane cpu %q: not a positive quantity", s.ControlPlaneCPU)
	}
	mem, err := resource.ParseQuantity(s.ControlPlaneMemory)
	if err != nil || mem.Sign() <= 0 {
		return s, fmt.Errorf("vcluster control-plane memory %q: not a positive quantity", s.ControlPlaneMemory)
	}
	if _, err := resource.ParseQuantity(s.PersistenceSize); err != nil {
		return s, fmt.Errorf("vcluster persistence size %q: %w", s.PersistenceSize, err)
	}
	s.cpuMilli, s.memBytes = cpu.MilliValue(), mem.Value()
	for _, img := range []string{s.SyncerImage, s.ControlPlaneImage, s.CoreDNSImage} {
		if img == "" {
			continue
		}
		if _, _, err := splitImage(img); err != nil {
			return s, err
		}
	}
	if strings.TrimSpace(s.Values) != "" {
		if err := yaml.Unmarshal([]byte(s.Values), &s.extra); err != nil {
			return s, fmt.Errorf("vcluster values: %w", err)
		}
	}
	return s, nil
}

// splitImage splits "repo[:tag]" into repository and tag (default "latest"); digests
// are refused (the chart composes repository:tag).
func splitImage(ref string) (repo, tag string, err error) {
	if strings.Contains(ref, "@") {
		return "", "", fmt.Errorf("vcluster image %q: digests are not supported by the chart; use a tag", ref)
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:], nil
	}
	return ref, "latest", nil
}
