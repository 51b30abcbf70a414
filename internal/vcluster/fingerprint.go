package vcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
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

// Fingerprint is what a vcluster session of tmpl with ID sessionID would be
// installed with under cfg: the chart reference, the hash of the session-independent
// values (equal for all sessions of one template under one configuration; changed by
// the provider's values, images, pull policy, control-plane settings, persistence or
// the template's vcluster_values), persistence and backing store as the merged values
// decide them, and the release name. No cluster is contacted.
func Fingerprint(cfg Config, tmpl *workshop.Template, sessionID string) (workshop.VClusterState, error) {
	s, err := cfg.Settings()
	if err != nil {
		return workshop.VClusterState{}, err
	}
	return s.Fingerprint(tmpl, sessionID)
}

// Fingerprint is Fingerprint of already checked settings.
func (s Settings) Fingerprint(tmpl *workshop.Template, sessionID string) (workshop.VClusterState, error) {
	vals, err := Values(s, tmpl, nil)
	if err != nil {
		return workshop.VClusterState{}, err
	}
	// encoding/json sorts map keys: the encoding is canonical.
	raw, err := json.Marshal(vals)
	if err != nil {
		return workshop.VClusterState{}, fmt.Errorf("vcluster values: %w", err)
	}
	sum := sha256.Sum256(raw)
	bs := BackingStoreOf(vals)
	return workshop.VClusterState{
		Release:      workshop.VClusterReleaseName(sessionID),
		Chart:        s.ChartRef(),
		ValuesSHA256: hex.EncodeToString(sum[:]),
		Persistence:  PersistenceOf(vals, bs),
		BackingStore: bs,
	}, nil
}

// ChartRef names the chart: the local path, or "<repository>/<name>@<version>".
func (s Settings) ChartRef() string {
	if s.ChartPath != "" {
		return s.ChartPath
	}
	return strings.TrimSuffix(s.ChartRepository, "/") + "/" + s.ChartName + "@" + s.ChartVersion
}

// BackingStoreOf reads controlPlane.backingStore of merged values; nothing enabled is
// the chart's default, kine on sqlite.
func BackingStoreOf(vals map[string]any) string {
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

// PersistenceOf reads controlPlane.statefulSet.persistence of merged values the way the
// chart does (vcluster.persistence.volumeClaim.enabled): "" for an emptyDir, else the
// claim's size and storage class; custom volumeClaimTemplates are "volumeClaimTemplates".
func PersistenceOf(vals map[string]any, backingStore string) string {
	p := dig(vals, "controlPlane", "statefulSet", "persistence")
	if l, ok := dig(asMap(p), "volumeClaimTemplates").([]any); ok && len(l) > 0 {
		return "volumeClaimTemplates"
	}
	vc := asMap(dig(asMap(p), "volumeClaim"))
	var on bool
	switch e := vc["enabled"]; e {
	case nil, "auto": // "auto", the chart's default: on for the embedded stores
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

// CheckInPlace refuses an update whose configuration would move the virtual cluster's
// data store (a plan replaces such a session; this guards direct callers and plans
// made without the template).
func CheckInPlace(recorded *workshop.VClusterState, want workshop.VClusterState) error {
	if recorded.BackingStore != "" && recorded.BackingStore != want.BackingStore {
		return fmt.Errorf("the vcluster backing store changes from %q to %q, which cannot be applied in place: replace the session", recorded.BackingStore, want.BackingStore)
	}
	if recorded.BackingStore != "" && recorded.Persistence != want.Persistence {
		return fmt.Errorf("the vcluster persistence changes from %q to %q, which cannot be applied in place: replace the session", recorded.Persistence, want.Persistence)
	}
	return nil
}
