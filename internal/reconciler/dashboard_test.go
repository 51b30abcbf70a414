package reconciler

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The Grafana dashboard shipped with the reconciler's deployment must query only metrics
// the reconciler exports: a renamed metric would leave a panel silently empty.
const dashboardPath = "../../examples/deploy/reconciler/grafana-dashboard.json"

var (
	fqNameRE     = regexp.MustCompile(`fqName: "([^"]+)"`)
	metricNameRE = regexp.MustCompile(`\bnalabo_[a-z0-9_]+`)
)

// exportedMetricNames lists every series name the reconciler's registry can export
// (histograms with their _bucket, _sum and _count series), from the collectors'
// descriptions: a vector without samples yet counts too.
func exportedMetricNames(t *testing.T, m *Metrics) map[string]bool {
	t.Helper()
	collectors := []prometheus.Collector{m.snap}
	histograms := map[string]bool{}
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		c, ok := f.Interface().(prometheus.Collector)
		if !ok {
			continue
		}
		collectors = append(collectors, c)
		if _, ok := c.(*prometheus.HistogramVec); ok {
			histograms[v.Type().Field(i).Name] = true
		}
	}
	names := map[string]bool{}
	for _, c := range collectors {
		_, isHist := c.(*prometheus.HistogramVec)
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			mm := fqNameRE.FindStringSubmatch(d.String())
			if mm == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[mm[1]] = true
			if isHist {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					names[mm[1]+suffix] = true
				}
			}
		}
	}
	if len(histograms) == 0 {
		t.Fatal("no histogram found among the Metrics fields: the reflection above is broken")
	}
	return names
}

// dashboardQueries returns every PromQL string of a Grafana dashboard: panel targets'
// expr and template variables' query and definition.
func dashboardQueries(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "expr" || k == "query" || k == "definition") {
				out = append(out, s)
				continue
			}
			out = append(out, dashboardQueries(val)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, dashboardQueries(e)...)
		}
	}
	return out
}

// unknownMetrics returns the nalabo_* names used in queries that are not in known, and
// every name used.
func unknownMetrics(queries []string, known map[string]bool) (unknown, used []string) {
	seen := map[string]bool{}
	for _, q := range queries {
		for _, n := range metricNameRE.FindAllString(q, -1) {
			if seen[n] {
				continue
			}
			seen[n] = true
			used = append(used, n)
			if !known[n] {
				unknown = append(unknown, n)
			}
		}
	}
	sort.Strings(unknown)
	sort.Strings(used)
	return unknown, used
}

func TestDashboardMetricsExist(t *testing.T) {
	known := exportedMetricNames(t, NewMetrics(nil))
	for _, want := range []string{"nalabo_sessions", "nalabo_reaped_sessions_total", "nalabo_reconcile_duration_seconds_bucket", "nalabo_backend_up"} {
		if !known[want] {
			t.Fatalf("%s missing from the registry's names %v: the name extraction is broken", want, known)
		}
	}
	// Positive control: a made-up metric is reported.
	if bad, _ := unknownMetrics([]string{`rate(nalabo_no_such_metric_total[5m]) / nalabo_sessions`}, known); len(bad) != 1 || bad[0] != "nalabo_no_such_metric_total" {
		t.Fatalf("unknownMetrics missed a made-up metric: %v", bad)
	}

	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if panels, _ := dash["panels"].([]any); len(panels) < 10 {
		t.Fatalf("%s has %d panels, want at least 10", dashboardPath, len(panels))
	}
	queries := dashboardQueries(dash)
	unknown, used := unknownMetrics(queries, known)
	if len(unknown) > 0 {
		t.Errorf("%s queries metrics the reconciler does not export: %s", dashboardPath, strings.Join(unknown, ", "))
	}
	if len(used) < 15 {
		t.Errorf("the dashboard uses %d nalabo metrics (%v), want at least 15", len(used), used)
	}
	t.Logf("%d queries, %d metrics, all exported: %s", len(queries), len(used), strings.Join(used, " "))
}
