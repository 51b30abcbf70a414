package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Annotations of a vcluster session's namespace recording what its release was
// installed with (workshop.VClusterState), so that a plan can tell an in-place Helm
// upgrade from a change that needs a new session.
const (
	annotationVClusterChart        = workshop.LabelPrefix + "vcluster-chart"
	annotationVClusterValuesSHA256 = workshop.LabelPrefix + "vcluster-values-sha256"
	annotationVClusterPersistence  = workshop.LabelPrefix + "vcluster-persistence"
	annotationVClusterBackingStore = workshop.LabelPrefix + "vcluster-backing-store"
)

// Backing stores of a virtual cluster (workshop.VClusterState.BackingStore), after
// the chart's controlPlane.backingStore keys.
const (
	BackingStoreSQLite           = "sqlite"
	BackingStoreEtcdEmbedded     = "etcd-embedded"
	BackingStoreEtcdDeploy       = "etcd-deploy"
	BackingStoreEtcdExternal     = "etcd-external"
	BackingStoreDatabaseExternal = "database-external"
)

// ValidateVClusterValues checks a template's vcluster_values without a cluster: empty,
// or YAML whose top level is a mapping.
func ValidateVClusterValues(content string) error {
	_, err := parseValuesYAML(content)
	return err
}

// parseValuesYAML parses chart values: nil for blank (or null) content, an error when
// the top level is not a mapping.
func parseValuesYAML(content string) (map[string]any, error) {
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

// VClusterFingerprint is what a vcluster session of tmpl with ID sessionID would be
// installed with under cfg: the chart reference, the hash of the session-independent
// values (equal for all sessions of one template under one configuration; changed by
// the provider's values, images, pull policy, control-plane settings, persistence or
// the template's vcluster_values), persistence and backing store as the merged values
// decide them, and the release name. No cluster is contacted.
func VClusterFingerprint(cfg VClusterConfig, tmpl *workshop.Template, sessionID string) (workshop.VClusterState, error) {
	s, err := cfg.settings()
	if err != nil {
		return workshop.VClusterState{}, err
	}
	return vclusterFingerprint(s, tmpl, sessionID)
}

func vclusterFingerprint(s vclusterSettings, tmpl *workshop.Template, sessionID string) (workshop.VClusterState, error) {
	vals, err := vclusterValues(s, tmpl, nil)
	if err != nil {
		return workshop.VClusterState{}, err
	}
	// encoding/json sorts map keys: the encoding is canonical.
	raw, err := json.Marshal(vals)
	if err != nil {
		return workshop.VClusterState{}, fmt.Errorf("vcluster values: %w", err)
	}
	sum := sha256.Sum256(raw)
	bs := backingStoreOf(vals)
	return workshop.VClusterState{
		Release:      workshop.VClusterReleaseName(sessionID),
		Chart:        s.chartRef(),
		ValuesSHA256: hex.EncodeToString(sum[:]),
		Persistence:  persistenceOf(vals, bs),
		BackingStore: bs,
	}, nil
}

// chartRef names the chart: the local path, or "<repository>/<name>@<version>".
func (s vclusterSettings) chartRef() string {
	if s.ChartPath != "" {
		return s.ChartPath
	}
	return strings.TrimSuffix(s.ChartRepository, "/") + "/" + s.ChartName + "@" + s.ChartVersion
}

// backingStoreOf reads controlPlane.backingStore of merged values; nothing enabled is
// the chart's default, kine on sqlite.
func backingStoreOf(vals map[string]any) string {
	for _, c := range []struct{ store, kind, name string }{
		{"etcd", "embedded", BackingStoreEtcdEmbedded},
		{"etcd", "deploy", BackingStoreEtcdDeploy},
		{"etcd", "external", BackingStoreEtcdExternal},
		{"database", "external", BackingStoreDatabaseExternal},
	} {
		if truthy(dig(vals, "controlPlane", "backingStore", c.store, c.kind, "enabled")) {
			return c.name
		}
	}
	return BackingStoreSQLite
}

// persistenceOf reads controlPlane.statefulSet.persistence of merged values the way the
// chart does (vcluster.persistence.volumeClaim.enabled): "" for an emptyDir, else the
// claim's size and storage class; custom volumeClaimTemplates are "volumeClaimTemplates".
func persistenceOf(vals map[string]any, backingStore string) string {
	p := dig(vals, "controlPlane", "statefulSet", "persistence")
	if l, ok := dig(asMap(p), "volumeClaimTemplates").([]any); ok && len(l) > 0 {
		return "volumeClaimTemplates"
	}
	vc := asMap(dig(asMap(p), "volumeClaim"))
	var on bool
	switch e := vc["enabled"]; {
	case e == nil || e == "auto": // "auto", the chart's default: on for the embedded stores
		on = backingStore == BackingStoreSQLite || backingStore == BackingStoreEtcdEmbedded
	default:
		on = truthy(e)
	}
	if !on {
		return ""
	}
	size := fmt.Sprint(orDefault(vc["size"], "5Gi"))
	if sc, _ := vc["storageClass"].(string); sc != "" {
		return size + "/" + sc
	}
	return size
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func orDefault(v, def any) any {
	if v == nil || v == "" {
		return def
	}
	return v
}

// dig returns the value at path in nested maps, or nil.
func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return b == "true"
	}
	return false
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

// setVClusterAnnotations records st on a session namespace's annotations.
func setVClusterAnnotations(a map[string]string, st workshop.VClusterState) {
	a[annotationVClusterChart] = st.Chart
	a[annotationVClusterValuesSHA256] = st.ValuesSHA256
	a[annotationVClusterPersistence] = st.Persistence
	a[annotationVClusterBackingStore] = st.BackingStore
}

// recordedVCluster is what a session's release was installed with: the namespace's
// annotations a; for a session created before they existed, persistence and backing
// store from relValues, the values Helm stored with the release (chart and values hash
// stay empty: unknown).
func recordedVCluster(a map[string]string, release string, relValues map[string]any) *workshop.VClusterState {
	st := &workshop.VClusterState{
		Release:      release,
		Chart:        a[annotationVClusterChart],
		ValuesSHA256: a[annotationVClusterValuesSHA256],
		Persistence:  a[annotationVClusterPersistence],
		BackingStore: a[annotationVClusterBackingStore],
	}
	if _, ok := a[annotationVClusterBackingStore]; !ok && relValues != nil {
		st.BackingStore = backingStoreOf(relValues)
		st.Persistence = persistenceOf(relValues, st.BackingStore)
	}
	return st
}

// checkInPlace refuses an update whose configuration would move the virtual cluster's
// data store (a plan replaces such a session; this guards direct callers and plans
// made without the template).
func checkInPlace(recorded *workshop.VClusterState, want workshop.VClusterState) error {
	if recorded.BackingStore != "" && recorded.BackingStore != want.BackingStore {
		return fmt.Errorf("the vcluster backing store changes from %q to %q, which cannot be applied in place: replace the session", recorded.BackingStore, want.BackingStore)
	}
	if recorded.BackingStore != "" && recorded.Persistence != want.Persistence {
		return fmt.Errorf("the vcluster persistence changes from %q to %q, which cannot be applied in place: replace the session", recorded.Persistence, want.Persistence)
	}
	return nil
}

// patchVClusterAnnotations records st on the session namespace.
func (b *Backend) patchVClusterAnnotations(ctx context.Context, ns string, st workshop.VClusterState) error {
	a := map[string]string{}
	setVClusterAnnotations(a, st)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": a}})
	if _, err := b.cs.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("record the vcluster fingerprint on namespace %s: %w", ns, err)
	}
	return nil
}
