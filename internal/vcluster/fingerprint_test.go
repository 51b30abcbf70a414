package vcluster

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

func mustFingerprint(t *testing.T, cfg Config, tmpl *workshop.Template, id string) workshop.VClusterState {
	t.Helper()
	fp, err := Fingerprint(cfg, tmpl, id)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func TestFingerprint(t *testing.T) {
	base := Config{SyncerImage: "reg/syncer:1", ImagePullPolicy: "IfNotPresent", Values: "controlPlane: {statefulSet: {annotations: {a: b}}}"}
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

	changes := map[string]func(c *Config){
		"values":            func(c *Config) { c.Values = "controlPlane: {statefulSet: {annotations: {a: c}}}" },
		"syncer image":      func(c *Config) { c.SyncerImage = "reg/syncer:2" },
		"control plane img": func(c *Config) { c.ControlPlaneImage = "reg/k8s:2" },
		"coredns image":     func(c *Config) { c.CoreDNSImage = "reg/dns:2" },
		"pull policy":       func(c *Config) { c.ImagePullPolicy = "Always" },
		"control-plane cpu": func(c *Config) { c.ControlPlaneCPU = "3" },
		"control-plane mem": func(c *Config) { c.ControlPlaneMemory = "2Gi" },
		"extra SANs":        func(c *Config) { c.ExtraSANs = []string{"vc.example"} },
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
	c.APIAccess, c.ParticipantServer = AccessService, "https://{release}.example"
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
	if _, err := Fingerprint(base, vcTemplate("- a list"), "x"); err == nil || !strings.Contains(err.Error(), "mapping") {
		t.Errorf("template values that are a list: %v", err)
	}
}

func TestPersistenceAndBackingStore(t *testing.T) {
	tmpl := vcTemplate("")
	cases := []struct {
		name               string
		cfg                Config
		tmplValues         string
		persistence, store string
	}{
		{"off", Config{}, "", "", BackingStoreSQLite},
		{"on", Config{Persistence: true}, "", "1Gi", BackingStoreSQLite},
		{"on with class", Config{Persistence: true, PersistenceSize: "2Gi", StorageClass: "local-path"}, "", "2Gi/local-path", BackingStoreSQLite},
		{"size from template", Config{Persistence: true}, "controlPlane: {statefulSet: {persistence: {volumeClaim: {size: 3Gi}}}}", "3Gi", BackingStoreSQLite},
		{"auto, sqlite (the chart's size)", Config{}, "controlPlane: {statefulSet: {persistence: {volumeClaim: {enabled: auto}}}}", "5Gi", BackingStoreSQLite},
		{"etcd embedded", Config{}, "controlPlane: {backingStore: {etcd: {embedded: {enabled: true}}}}", "", BackingStoreEtcdEmbedded},
		{"etcd deploy", Config{Values: "controlPlane: {backingStore: {etcd: {deploy: {enabled: true}}}}"}, "", "", BackingStoreEtcdDeploy},
		{"etcd external", Config{}, "controlPlane: {backingStore: {etcd: {external: {enabled: true}}}}", "", BackingStoreEtcdExternal},
		{"database external", Config{}, "controlPlane: {backingStore: {database: {external: {enabled: true}}}}", "", BackingStoreDatabaseExternal},
		{"database embedded", Config{}, "controlPlane: {backingStore: {database: {embedded: {enabled: true}}}}", "", BackingStoreSQLite},
		{"claim templates", Config{}, "controlPlane: {statefulSet: {persistence: {volumeClaimTemplates: [{metadata: {name: data}}]}}}", "volumeClaimTemplates", BackingStoreSQLite},
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
	if got := PersistenceOf(map[string]any{}, BackingStoreSQLite); got != "5Gi" {
		t.Errorf("chart defaults: %q", got)
	}
}

func TestValidateValues(t *testing.T) {
	for _, ok := range []string{"", "  \n", "null", "controlPlane:\n  statefulSet:\n    annotations: {x: y}\n"} {
		if err := ValidateValues(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{"- a\n- b\n": "a list", "just a string": "a string", "a: [": "not valid YAML", "42": "a number"} {
		if err := ValidateValues(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", bad, err, want)
		}
	}
}

// Merging values never changes what later calls build from.
func TestValuesNoSharedState(t *testing.T) {
	cfg := Config{Values: "controlPlane: {statefulSet: {probes: {readinessProbe: {periodSeconds: 7}}, annotations: {a: b}}}"}
	s, err := cfg.Settings()
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Fingerprint(vcTemplate(""), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Template values that reach into maps the provider's values and the built values
	// also have.
	first, err := s.Fingerprint(vcTemplate("controlPlane: {statefulSet: {probes: {startupProbe: {periodSeconds: 9}}, annotations: {c: d}}}"), "a")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.Fingerprint(vcTemplate(""), "a")
	if again != want || first.ValuesSHA256 == want.ValuesSHA256 {
		t.Errorf("a template's values leaked into later calls: %+v, want %+v", again, want)
	}
	v, _ := Values(s, vcTemplate(""), nil)
	if got := dig(v, "controlPlane", "statefulSet", "annotations"); len(asMap(got)) != 1 {
		t.Errorf("annotations %v", got)
	}
}
