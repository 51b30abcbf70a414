package reconciler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nalabo/terraform-provider-nalabo/internal/acctest"
	"github.com/nalabo/terraform-provider-nalabo/internal/backend/docker"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Integration tests against the real dockerd (NALABO_DOCKER_TESTS=1 or TF_ACC=1), with
// the images of scripts/build-test-images.sh. Each test uses its own template name and
// restricts its reconcilers to it (--template), so it never touches other tests'
// sessions on the same daemon.

const (
	testPool          = "10.221.0.0/16"
	testNetworkPrefix = "nalabo-rtest-network"
)

func dockerIntegration(t *testing.T) {
	t.Helper()
	if os.Getenv("NALABO_DOCKER_TESTS") != "1" && os.Getenv("TF_ACC") != "1" {
		t.Skip("integration test against the Docker daemon: set NALABO_DOCKER_TESTS=1 (or TF_ACC=1) to run it")
	}
	acctest.PreCheck(t)
}

func newDocker(t *testing.T) *docker.Backend {
	t.Helper()
	b, err := docker.New(docker.Config{Host: os.Getenv("DOCKER_HOST"), SubnetPool: testPool, NetworkPrefix: testNetworkPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dockerTemplate applies a template with a passing and a failing validation check.
func dockerTemplate(t *testing.T, b *docker.Backend, name string) *workshop.Template {
	t.Helper()
	tpl, err := b.ApplyTemplate(ctxFor(t, 2*time.Minute), &workshop.Template{
		Name: name, Infrastructure: workshop.InfraDocker,
		Workspace: workshop.Workspace{Image: acctest.ShellImage1, Command: []string{"sleep", "infinity"}},
		Resources: workshop.Resources{CPU: "250m", Memory: "64Mi"},
		Validations: []workshop.Validation{
			{Name: "greets", Command: []string{"sh", "-c", "echo hello"}, OutputPattern: "^hello"},
			{Name: "has-answer", Command: []string{"sh", "-c", "test -f /workspace/answer"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.DeleteTemplate(context.Background(), tpl.ID) })
	return tpl
}

// createDockerSession creates a session that expires at createdAt+lifetime (possibly
// already past) and deletes it when the test ends (a no-op once reaped).
func createDockerSession(t *testing.T, b *docker.Backend, tpl *workshop.Template, participant string, createdAt time.Time, lifetime time.Duration) string {
	t.Helper()
	createdAt = createdAt.UTC().Truncate(time.Second)
	spec := &workshop.SessionSpec{
		ID: workshop.NewSessionID(), Template: tpl, Participant: participant,
		Resources: workshop.Resources{CPU: "250m", Memory: "64Mi", Storage: "1Gi"},
		CreatedAt: createdAt, Duration: lifetime, ExpiresAt: createdAt.Add(lifetime),
	}
	t.Cleanup(func() { _ = b.DeleteSession(context.Background(), spec.ID) })
	if _, err := b.CreateSession(ctxFor(t, 2*time.Minute), spec); err != nil {
		t.Fatalf("create session of %s: %v", participant, err)
	}
	return spec.ID
}

func testConfig(templates ...string) *Config {
	return &Config{Interval: time.Minute, Grace: 0, RemnantGrace: DefaultRemnantGrace, Parallelism: 4, DeleteTimeout: 2 * time.Minute,
		ValidateInterval: time.Hour, Templates: templates, Backends: []workshop.InfrastructureType{workshop.InfraDocker}}
}

// passAt runs one reconciler pass over backend b for template name, with the clock at
// now, and fails the test on an error of the pass.
func passAt(t *testing.T, name string, b workshop.Backend, now time.Time) PassResult {
	t.Helper()
	cfg := testConfig(name)
	cfg.Backends = []workshop.InfrastructureType{b.Type()}
	r := New(cfg, []workshop.Backend{b}, nil, nil, WithClock(func() time.Time { return now }))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res := r.RunOnce(ctx)[0]
	if err := res.Err(); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return res
}

// scrape fetches /metrics over loopback and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// value returns the value of the sample of a family whose labels include want, and
// whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

func wantValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(mfs, name, labels)
	if !ok && want == 0 {
		return
	}
	if !ok || got != want {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
	}
}

// TestDockerReapAndMetrics: an expired session is reaped (nothing labelled with it is
// left), a live one is sampled and validated, and /metrics over loopback shows the
// counts before and after.
func TestDockerReapAndMetrics(t *testing.T) {
	dockerIntegration(t)
	b := newDocker(t)
	name := acctest.RandName("rtest-reap")
	tpl := dockerTemplate(t, b, name)
	now := time.Now()
	expired := createDockerSession(t, b, tpl, "ada", now.Add(-2*time.Minute), time.Minute)
	alive := createDockerSession(t, b, tpl, "grace", now, time.Hour)

	cfg := testConfig(name)
	cfg.Grace = time.Hour // first pass: the expired session is within its grace period
	r := New(cfg, []workshop.Backend{b}, nil, nil)
	base := serve(t, r)
	code, body := get(t, base+"/readyz")
	if code != 200 || !strings.Contains(body, "docker: ok") {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	tmpl := map[string]string{"backend": "docker", "template": name}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"backend": "docker", "template": name}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	res := r.RunOnce(ctxFor(t, 3*time.Minute))[0]
	if err := res.Err(); err != nil {
		t.Fatalf("pass 1: %v", err)
	}
	if res.Listed != 2 || len(res.Due) != 0 || len(res.Reaped) != 0 || res.Validated != 1 {
		t.Fatalf("pass 1: %+v", res)
	}
	before := scrape(t, base)
	wantValue(t, before, "nalabo_sessions", with("status", "expired"), 1)
	wantValue(t, before, "nalabo_sessions", with("status", "running"), 1)
	wantValue(t, before, "nalabo_reaped_sessions_total", tmpl, 0)
	wantValue(t, before, "nalabo_validation_checks_total", with("check", "greets", "result", "passed"), 1)
	wantValue(t, before, "nalabo_validation_checks_total", with("check", "has-answer", "result", "failed"), 1)
	wantValue(t, before, "nalabo_session_validation_passed", with("session", alive, "check", "greets"), 1)
	wantValue(t, before, "nalabo_session_validation_passed", with("session", alive, "check", "has-answer"), 0)
	wantValue(t, before, "nalabo_exec_total", with("result", "ok"), 1)
	wantValue(t, before, "nalabo_exec_total", with("result", "nonzero"), 1)
	wantValue(t, before, "nalabo_backend_up", map[string]string{"backend": "docker"}, 1)
	// Docker reports a session's creation time as its container's (a few seconds
	// after the spec's created_at here).
	if v, ok := value(before, "nalabo_session_lifetime_seconds", with("session", alive)); !ok || v < 3500 || v > 3600 {
		t.Errorf("lifetime of the live session: %v %v", v, ok)
	}
	if v, ok := value(before, "nalabo_session_memory_working_set_bytes", with("session", alive)); !ok || v <= 0 {
		t.Errorf("memory of the live session: %v %v", v, ok)
	}
	if _, ok := value(before, "nalabo_session_cpu_seconds_total", with("session", alive)); !ok {
		t.Error("no CPU figure for the live session")
	}
	if _, ok := value(before, "nalabo_session_network_receive_bytes_total", with("session", alive)); !ok {
		t.Error("no network figure for the live session")
	}
	if age, ok := value(before, "nalabo_session_age_seconds", with("session", expired)); !ok || age <= 0 {
		t.Errorf("age of the expired session: %v %v", age, ok)
	}

	// Past expires_at + grace: reaped.
	cfg.Grace = 0
	res = r.RunOnce(ctxFor(t, 3*time.Minute))[0]
	if err := res.Err(); err != nil {
		t.Fatalf("pass 2: %v", err)
	}
	if strings.Join(res.Reaped, ",") != expired || res.Listed != 2 || res.Validated != 0 {
		t.Fatalf("pass 2: %+v", res)
	}
	if n := acctest.CountLabelled(t, workshop.LabelSession+"="+expired); n.Total() != 0 {
		t.Fatalf("the reaped session left objects behind: %s", n)
	}
	if n := acctest.CountLabelled(t, workshop.LabelSession+"="+alive); n.Containers != 1 || n.Networks != 1 {
		t.Fatalf("the live session lost objects: %s", n)
	}
	after := scrape(t, base)
	wantValue(t, after, "nalabo_sessions", with("status", "expired"), 0)
	wantValue(t, after, "nalabo_sessions", with("status", "running"), 1)
	wantValue(t, after, "nalabo_reaped_sessions_total", tmpl, 1)
	wantValue(t, after, "nalabo_reaped_session_lifetime_seconds", tmpl, 1) // one observation
	wantValue(t, after, "nalabo_reconcile_errors_total", map[string]string{"backend": "docker"}, 0)
	wantValue(t, after, "nalabo_reconcile_passes_total", map[string]string{"backend": "docker", "result": "ok"}, 2)
	if _, ok := value(after, "nalabo_session_age_seconds", with("session", expired)); ok {
		t.Error("the reaped session still has an age gauge")
	}

	// A third pass finds nothing more to do.
	res = r.RunOnce(ctxFor(t, 3*time.Minute))[0]
	if res.Err() != nil || len(res.Reaped) != 0 || res.Listed != 1 {
		t.Fatalf("pass 3: %+v", res)
	}
}

// TestDockerRacingReconcilers: two reconcilers (each with its own client, as two
// processes would have) run passes at the same moment over the same expired sessions:
// neither errors, every session is gone, and the reaped counters add up to the number
// of sessions (each deleted once).
func TestDockerRacingReconcilers(t *testing.T) {
	dockerIntegration(t)
	creator := newDocker(t)
	name := acctest.RandName("rtest-race")
	tpl := dockerTemplate(t, creator, name)
	const n = 6
	ids := make([]string, n)
	var wg sync.WaitGroup
	now := time.Now()
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = createDockerSession(t, creator, tpl, "p"+string(rune('a'+i)), now.Add(-10*time.Minute), time.Minute)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	rs := []*Reconciler{
		New(testConfig(name), []workshop.Backend{newDocker(t)}, nil, nil),
		New(testConfig(name), []workshop.Backend{newDocker(t)}, nil, nil),
	}
	results := make([]PassResult, len(rs))
	start := make(chan struct{})
	for i, r := range rs {
		r.cfg.ValidateInterval = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = r.RunOnce(ctxFor(t, 5*time.Minute))[0]
		}()
	}
	close(start)
	wg.Wait()

	total := 0.0
	reaped := map[string]int{}
	for i, res := range results {
		if err := res.Err(); err != nil {
			t.Errorf("reconciler %d: %v", i, err)
		}
		for _, id := range res.Reaped {
			reaped[id]++
		}
		total += counterValue(rs[i].metrics.Reaped.WithLabelValues("docker", name))
		t.Logf("reconciler %d: listed %d, reaped %d, deleted by the other %d, took %s",
			i, res.Listed, len(res.Reaped), len(res.DeletedByOther), res.Took.Round(time.Millisecond))
	}
	if total != n {
		t.Errorf("reaped counters add up to %v, want %d", total, n)
	}
	for _, id := range ids {
		if reaped[id] != 1 {
			t.Errorf("session %s counted as reaped %d times", id, reaped[id])
		}
		if c := acctest.CountLabelled(t, workshop.LabelSession+"="+id); c.Total() != 0 {
			t.Errorf("session %s left objects behind: %s", id, c)
		}
	}
}

func counterValue(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

// TestDockerReapSessionClaimsOnce: two backends (two clients) reap the same session at
// the same moment, for several sessions: no error on either side and exactly one claim
// per session.
func TestDockerReapSessionClaimsOnce(t *testing.T) {
	dockerIntegration(t)
	a, b := newDocker(t), newDocker(t)
	tpl := dockerTemplate(t, a, acctest.RandName("rtest-claim"))
	for i := 0; i < 3; i++ {
		id := createDockerSession(t, a, tpl, "claim", time.Now().Add(-time.Hour), time.Minute)
		var wg sync.WaitGroup
		claims := make([]bool, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		for j, be := range []*docker.Backend{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				claims[j], errs[j] = be.ReapSession(ctxFor(t, 2*time.Minute), id)
			}()
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("session %s: errors %v / %v", id, errs[0], errs[1])
		}
		if claims[0] == claims[1] {
			t.Fatalf("session %s: claims %v, want exactly one", id, claims)
		}
		if c := acctest.CountLabelled(t, workshop.LabelSession+"="+id); c.Total() != 0 {
			t.Fatalf("session %s left objects behind: %s", id, c)
		}
		// Reaping it again: no error, no claim.
		if claimed, err := a.ReapSession(ctxFor(t, time.Minute), id); err != nil || claimed {
			t.Fatalf("second reap of %s: claimed %v, %v", id, claimed, err)
		}
	}
}

// TestDockerImageReaps runs the reconciler image (examples/deploy/reconciler/Dockerfile)
// as it is meant to run on a Docker host: non-root, read-only, no capabilities, the
// Docker socket mounted; one --once pass reaps an expired session. It runs when
// NALABO_RECONCILER_IMAGE names the image to test.
func TestDockerImageReaps(t *testing.T) {
	dockerIntegration(t)
	image := os.Getenv("NALABO_RECONCILER_IMAGE")
	if image == "" {
		t.Skip("NALABO_RECONCILER_IMAGE is not set (docker build -f examples/deploy/reconciler/Dockerfile ...)")
	}
	b := newDocker(t)
	name := acctest.RandName("rtest-image")
	tpl := dockerTemplate(t, b, name)
	expired := createDockerSession(t, b, tpl, "ada", time.Now().Add(-time.Hour), time.Minute)
	alive := createDockerSession(t, b, tpl, "grace", time.Now(), time.Hour)
	fi, err := os.Stat("/var/run/docker.sock")
	if err != nil {
		t.Fatal(err)
	}
	gid := acctest.As[*syscall.Stat_t](t, fi.Sys()).Gid
	cmd := exec.Command("docker", "run", "--rm", "--user", fmt.Sprintf("65532:%d", gid), "--read-only", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges", "--network", "none", "-v", "/var/run/docker.sock:/var/run/docker.sock",
		image, "--once", "--grace=0", "--template="+name, "--validate-interval=0")
	out, err := cmd.CombinedOutput()
	t.Logf("reconciler container:\n%s", out)
	if err != nil {
		t.Fatalf("docker run: %v", err)
	}
	if !strings.Contains(string(out), "reaped expired session") || !strings.Contains(string(out), expired) {
		t.Fatalf("the container did not log the reaping of %s", expired)
	}
	if n := acctest.CountLabelled(t, workshop.LabelSession+"="+expired); n.Total() != 0 {
		t.Fatalf("the reaped session left objects behind: %s", n)
	}
	if n := acctest.CountLabelled(t, workshop.LabelSession+"="+alive); n.Containers != 1 {
		t.Fatalf("the live session lost objects: %s", n)
	}
}
