package kubernetes

import (
	"strings"
	"testing"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func vcTemplate(values string) *workshop.Template {
	return &workshop.Template{
		ID: "kubernetes.vc.000000000000", Name: "vc", Infrastructure: workshop.InfraKubernetes,
		Isolation: workshop.IsolationVCluster, VClusterValues: values,
		Workspace: workshop.Workspace{Image: "shell:1"},
	}
}

func mustFingerprint(t *testing.T, cfg VClusterConfig, tmpl *workshop.Template, id string) workshop.VClusterState {
	t.Helper()
	fp, err := VClusterFingerprint(cfg, tmpl, id)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func TestVClusterFingerprint(t *testing.T) {
	base := VClusterConfig{SyncerImage: "reg/syncer:1", ImagePullPolicy: "IfNotPresent", Values: "controlPlane: {statefulSet: {annotations: {a: b}}}"}
	tmpl := vcTemplate("")
	a := mustFingerprint(t, base, tmpl, "aaaaaaaaaa")
	b := mustFingerprint(t, base, tmpl, "bbbbbbbbbb")
	if a.ValuesSHA256 != b.ValuesSHA256 || a.Chart != b.Chart || len(a.ValuesSHA256) != 64 {
		t.Fatalf("two sessions of one template differ: %+v %+v", a, b)
	}
	if a.Release != "vcluster-aaaaaaaaaa" || a.Chart != "https://charts.loft.sh/vcluster@0.30.0" {
		t.Errorf("release %q chart %q", a.Release, a.Chart)
	}
	if a.Persistence != "" || a.BackingStore != BackingStoreSQLite {
		t.Errorf("defaults: persistence %q backing store %q", a.Persistence, a.BackingStore)
	}
	// Stable across calls (the provider's parsed values are not mutated by a merge).
	if again := mustFingerprint(t, base, vcTemplate("controlPlane: {statefulSet: {annotations: {c: d}}}"), "x"); again.ValuesSHA256 == a.ValuesSHA256 {
		t.Error("template values do not change the hash")
	}
	if again := mustFingerprint(t, base, tmpl, "aaaaaaaaaa"); again != a {
		t.Errorf("not stable: %+v then %+v", a, again)
	}

	changes := map[string]func(c *VClusterConfig){
		"values":            func(c *VClusterConfig) { c.Values = "controlPlane: {statefulSet: {annotations: {a: c}}}" },
		"syncer image":      func(c *VClusterConfig) { c.SyncerImage = "reg/syncer:2" },
		"control plane img": func(c *VClusterConfig) { c.ControlPlaneImage = "reg/k8s:2" },
		"coredns image":     func(c *VClusterConfig) { c.CoreDNSImage = "reg/dns:2" },
		"pull policy":       func(c *VClusterConfig) { c.ImagePullPolicy = "Always" },
		"control-plane cpu": func(c *VClusterConfig) { c.ControlPlaneCPU = "3" },
		"control-plane mem": func(c *VClusterConfig) { c.ControlPlaneMemory = "2Gi" },
		"extra SANs":        func(c *VClusterConfig) { c.ExtraSANs = []string{"vc.example"} },
	}
	for name, change := range changes {
		c := base
		change(&c)
		if got := mustFingerprint(t, c, tmpl, "aaaaaaaaaa"); got.ValuesSHA256 == a.ValuesSHA256 {
			t.Errorf("%s: values hash unchanged", name)
		}
	}
	// API access and the participant server shape no chart value.
	c := base
	c.APIAccess, c.ParticipantServer = VClusterAccessService, "https://{release}.example"
	if got := mustFingerprint(t, c, tmpl, "aaaaaaaaaa"); got != a {
		t.Errorf("api access changed the fingerprint: %+v", got)
	}
	c = base
	c.ChartVersion = "0.31.0"
	if got := mustFingerprint(t, c, tmpl, "aaaaaaaaaa"); got.Chart != "https://charts.loft.sh/vcluster@0.31.0" {
		t.Errorf("chart version: %q", got.Chart)
	}
	c = base
	c.ChartPath = "/charts/vcluster"
	if got := mustFingerprint(t, c, tmpl, "aaaaaaaaaa"); got.Chart != "/charts/vcluster" {
		t.Errorf("chart path: %q", got.Chart)
	}
	if _, err := VClusterFingerprint(base, vcTemplate("- a list"), "x"); err == nil || !strings.Contains(err.Error(), "mapping") {
		t.Errorf("template values that are a list: %v", err)
	}
}

func TestVClusterPersistenceAndBackingStore(t *testing.T) {
	tmpl := vcTemplate("")
	cases := []struct {
		name               string
		cfg                VClusterConfig
		tmplValues         string
		persistence, store string
	}{
		{"off", VClusterConfig{}, "", "", BackingStoreSQLite},
		{"on", VClusterConfig{Persistence: true}, "", "1Gi", BackingStoreSQLite},
		{"on with class", VClusterConfig{Persistence: true, PersistenceSize: "2Gi", StorageClass: "local-path"}, "", "2Gi/local-path", BackingStoreSQLite},
		{"size from template", VClusterConfig{Persistence: true}, "controlPlane: {statefulSet: {persistence: {volumeClaim: {size: 3Gi}}}}", "3Gi", BackingStoreSQLite},
		{"auto, sqlite (the chart's size)", VClusterConfig{}, "controlPlane: {statefulSet: {persistence: {volumeClaim: {enabled: auto}}}}", "5Gi", BackingStoreSQLite},
		{"etcd embedded", VClusterConfig{}, "controlPlane: {backingStore: {etcd: {embedded: {enabled: true}}}}", "", BackingStoreEtcdEmbedded},
		{"etcd deploy", VClusterConfig{Values: "controlPlane: {backingStore: {etcd: {deploy: {enabled: true}}}}"}, "", "", BackingStoreEtcdDeploy},
		{"etcd external", VClusterConfig{}, "controlPlane: {backingStore: {etcd: {external: {enabled: true}}}}", "", BackingStoreEtcdExternal},
		{"database external", VClusterConfig{}, "controlPlane: {backingStore: {database: {external: {enabled: true}}}}", "", BackingStoreDatabaseExternal},
		{"database embedded", VClusterConfig{}, "controlPlane: {backingStore: {database: {embedded: {enabled: true}}}}", "", BackingStoreSQLite},
		{"claim templates", VClusterConfig{}, "controlPlane: {statefulSet: {persistence: {volumeClaimTemplates: [{metadata: {name: data}}]}}}", "volumeClaimTemplates", BackingStoreSQLite},
	}
	for _, c := range cases {
		tm := *tmpl
		tm.VClusterValues = c.tmplValues
		fp := mustFingerprint(t, c.cfg, &tm, "aaaaaaaaaa")
		if fp.Persistence != c.persistence || fp.BackingStore != c.store {
			t.Errorf("%s: persistence %q backing store %q, want %q %q", c.name, fp.Persistence, fp.BackingStore, c.persistence, c.store)
		}
	}
	// The chart's own default ("auto", no key at all) means persistence for sqlite.
	if got := persistenceOf(map[string]any{}, BackingStoreSQLite); got != "5Gi" {
		t.Errorf("chart defaults: %q", got)
	}
}

func TestValidateVClusterValues(t *testing.T) {
	for _, ok := range []string{"", "  \n", "null", "controlPlane:\n  statefulSet:\n    annotations: {x: y}\n"} {
		if err := ValidateVClusterValues(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{"- a\n- b\n": "a list", "just a string": "a string", "a: [": "not valid YAML", "42": "a number"} {
		if err := ValidateVClusterValues(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", bad, err, want)
		}
	}
}

func TestRecordedVClusterAndCheckInPlace(t *testing.T) {
	want := workshop.VClusterState{Release: "vcluster-a", Chart: "c", ValuesSHA256: "h", Persistence: "", BackingStore: BackingStoreSQLite}
	a := map[string]string{}
	setVClusterAnnotations(a, want)
	if got := recordedVCluster(a, "vcluster-a", nil); *got != want {
		t.Errorf("recorded %+v, want %+v", got, want)
	}
	// A session older than the annotations: the release's values tell the data store.
	old := recordedVCluster(map[string]string{}, "vcluster-a", map[string]any{"controlPlane": map[string]any{
		"statefulSet": map[string]any{"persistence": map[string]any{"volumeClaim": map[string]any{"enabled": true, "size": "1Gi"}}},
	}})
	if old.Chart != "" || old.ValuesSHA256 != "" || old.Persistence != "1Gi" || old.BackingStore != BackingStoreSQLite {
		t.Errorf("old session: %+v", old)
	}
	if err := checkInPlace(old, want); err == nil || !strings.Contains(err.Error(), `persistence changes from "1Gi" to ""`) {
		t.Errorf("persistence change: %v", err)
	}
	other := want
	other.BackingStore = BackingStoreEtcdEmbedded
	if err := checkInPlace(&want, other); err == nil || !strings.Contains(err.Error(), "backing store") {
		t.Errorf("backing store change: %v", err)
	}
	other = want
	other.ValuesSHA256, other.Chart = "h2", "c2"
	if err := checkInPlace(&want, other); err != nil {
		t.Errorf("values change must be in place: %v", err)
	}
}

// Merging values never changes what later calls build from.
func TestVClusterValuesNoSharedState(t *testing.T) {
	cfg := VClusterConfig{Values: "controlPlane: {statefulSet: {probes: {readinessProbe: {periodSeconds: 7}}, annotations: {a: b}}}"}
	s, err := cfg.settings()
	if err != nil {
		t.Fatal(err)
	}
	want, err := vclusterFingerprint(s, vcTemplate(""), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Template values that reach into maps the provider's values and the built values
	// also have.
	first, err := vclusterFingerprint(s, vcTemplate("controlPlane: {statefulSet: {probes: {startupProbe: {periodSeconds: 9}}, annotations: {c: d}}}"), "a")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := vclusterFingerprint(s, vcTemplate(""), "a")
	if again != want || first.ValuesSHA256 == want.ValuesSHA256 {
		t.Errorf("a template's values leaked into later calls: %+v, want %+v", again, want)
	}
	v, _ := vclusterValues(s, vcTemplate(""), nil)
	if got := dig(v, "controlPlane", "statefulSet", "annotations"); len(asMap(got)) != 1 {
		t.Errorf("annotations %v", got)
	}
}
