// Package vcluster is the cluster-free part of isolation = "vcluster": the settings,
// the chart values a session's release is installed with and their fingerprint. The
// provider plans with it and the Kubernetes backend installs with it, so both compute
// the same values; it talks to no cluster and imports no client.
package vcluster

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Config configures isolation = "vcluster": the vCluster Helm chart installed per
// session and the images and values it runs with.
type Config struct {
	// ChartPath is a local chart directory or .tgz archive. When set, ChartRepository
	// is not used.
	ChartPath string
	// ChartRepository (default DefaultChartRepository), ChartName (default
	// "vcluster") and ChartVersion (default DefaultChartVersion) locate the
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

// Defaults of Config.
const (
	DefaultChartRepository = "https://charts.loft.sh"
	DefaultChartName       = "vcluster"
	DefaultChartVersion    = "0.30.0"
	DefaultControlCPU      = "2000m"
	DefaultControlMemory   = "1Gi"
	DefaultPersistenceSize = "1Gi"

	AccessPortForward = "port-forward"
	AccessService     = "service"
)

// Settings is Config with defaults filled and quantities parsed.
type Settings struct {
	Config
	// CPUMilli and MemBytes are the control plane's limits (ControlPlaneCPU and
	// ControlPlaneMemory).
	CPUMilli, MemBytes int64
	// extra is Values parsed.
	extra map[string]any
}

// Settings fills the defaults and checks every field.
func (c Config) Settings() (Settings, error) {
	s := Settings{Config: c}
	if s.ChartRepository == "" {
		s.ChartRepository = DefaultChartRepository
	}
	if s.ChartName == "" {
		s.ChartName = DefaultChartName
	}
	if s.ChartVersion == "" {
		s.ChartVersion = DefaultChartVersion
	}
	if s.ControlPlaneCPU == "" {
		s.ControlPlaneCPU = DefaultControlCPU
	}
	if s.ControlPlaneMemory == "" {
		s.ControlPlaneMemory = DefaultControlMemory
	}
	if s.PersistenceSize == "" {
		s.PersistenceSize = DefaultPersistenceSize
	}
	if s.APIAccess == "" {
		s.APIAccess = AccessPortForward
	}
	switch s.APIAccess {
	case AccessPortForward, AccessService:
	default:
		return s, fmt.Errorf("vcluster api_access %q: want %q or %q", s.APIAccess, AccessPortForward, AccessService)
	}
	switch s.ImagePullPolicy { // corev1.PullPolicy values, spelled out: no k8s.io/api here
	case "", "Always", "IfNotPresent", "Never":
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
	s.CPUMilli, s.MemBytes = cpu.MilliValue(), mem.Value()
	for _, img := range []string{s.SyncerImage, s.ControlPlaneImage, s.CoreDNSImage} {
		if img == "" {
			continue
		}
		if _, _, err := SplitImage(img); err != nil {
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

// SplitImage splits "repo[:tag]" into repository and tag (default "latest"); digests
// are refused (the chart composes repository:tag).
func SplitImage(ref string) (repo, tag string, err error) {
	if strings.Contains(ref, "@") {
		return "", "", fmt.Errorf("vcluster image %q: digests are not supported by the chart; use a tag", ref)
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:], nil
	}
	return ref, "latest", nil
}
