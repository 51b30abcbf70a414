package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseArgsDefaults(t *testing.T) {
	cfg, err := ParseArgs(nil, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != time.Minute || cfg.Grace != 5*time.Minute || cfg.Listen != "127.0.0.1:9464" {
		t.Fatalf("defaults: interval %s grace %s listen %s", cfg.Interval, cfg.Grace, cfg.Listen)
	}
	if len(cfg.Backends) != 1 || cfg.Backends[0] != workshop.InfraDocker {
		t.Fatalf("default backend: %v", cfg.Backends)
	}
	if cfg.Docker.Host != "unix:///var/run/docker.sock" || cfg.Docker.NetworkPrefix != "nalabo-network" {
		t.Fatalf("docker defaults: %+v", cfg.Docker)
	}
	if cfg.Once || cfg.DryRun || !cfg.LeaderElect || cfg.LeaseName != "nalabo-reconciler" || cfg.LogLevel != "info" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.ValidateInterval != 5*time.Minute || cfg.Parallelism != 4 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestParseArgsFlagsAndEnv(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg, err := ParseArgs([]string{
		"--interval", "10s", "--grace=0", "--listen", "127.0.0.1:0", "--backend", "docker", "--backend=kubernetes",
		"--once", "--template", "intro", "--template", "advanced", "--validate-interval", "0", "--dry-run",
		"-log-level", "debug", "--identity", "me",
	}, env(map[string]string{
		"DOCKER_HOST": "tcp://127.0.0.1:2376", "DOCKER_NETWORK": "class-a", "DOCKER_CERT_PATH": "/certs",
		"KUBECONFIG": kc + string(os.PathListSeparator) + "/other", "K8S_CONTEXT": "prod", "K8S_NAMESPACE": "control",
		"K8S_TOKEN": "s3cret",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != 10*time.Second || cfg.Grace != 0 || cfg.Listen != "127.0.0.1:0" || !cfg.Once || !cfg.DryRun {
		t.Fatalf("flags: %+v", cfg)
	}
	if got := backendNames(cfg.Backends); got != "docker,kubernetes" {
		t.Fatalf("backends: %s", got)
	}
	if strings.Join(cfg.Templates, ",") != "intro,advanced" || cfg.ValidateInterval != 0 || cfg.Identity != "me" {
		t.Fatalf("flags: %+v", cfg)
	}
	if cfg.Docker.Host != "tcp://127.0.0.1:2376" || cfg.Docker.NetworkPrefix != "class-a" || cfg.Docker.CertPath != "/certs" {
		t.Fatalf("docker env: %+v", cfg.Docker)
	}
	k := cfg.Kubernetes
	// The whole list: the backend merges the files like kubectl.
	if k.ConfigPath != kc+string(os.PathListSeparator)+"/other" || k.Context != "prod" || k.Namespace != "control" || k.Token != "s3cret" {
		t.Fatalf("kubernetes env: %+v", k)
	}
	// Comma-separated backends replace the default too.
	cfg, err = ParseArgs([]string{"--backend", "kubernetes,docker"}, env(map[string]string{"K8S_ENDPOINT": "https://127.0.0.1:6443"}), nil)
	if err != nil || backendNames(cfg.Backends) != "kubernetes,docker" {
		t.Fatalf("comma list: %v %v", cfg, err)
	}
}

func TestParseArgsErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--interval", "0s"}, nil, "--interval"},
		{[]string{"--interval", "soon"}, nil, "-interval"},
		{[]string{"--grace", "-1m"}, nil, "--grace"},
		{[]string{"--backend", "nomad"}, nil, "must be docker, kubernetes or swarm"},
		{[]string{"--backend", "docker", "--backend", "docker"}, nil, "docker given twice"},
		{[]string{"--listen", "9464"}, nil, "--listen"},
		{[]string{"--parallelism", "0"}, nil, "--parallelism"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--template", "Bad Name"}, nil, "--template"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"--backend", "kubernetes"}, nil, "KUBECONFIG or K8S_ENDPOINT"},
		{[]string{"--backend", "kubernetes"}, map[string]string{"K8S_ENDPOINT": "https://x", "K8S_INSECURE": "maybe"}, "K8S_INSECURE"},
	} {
		_, err := ParseArgs(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want an error containing %q, got %v", tc.args, tc.want, err)
		}
	}
}

func TestInClusterKubeconfig(t *testing.T) {
	dir := t.TempDir()
	for f, c := range map[string]string{"token": "tok", "ca.crt": "pem", "namespace": "nalabo-system\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := serviceAccountDir
	serviceAccountDir = dir
	t.Cleanup(func() { serviceAccountDir = old })
	cfg, err := ParseArgs([]string{"--backend", "kubernetes"},
		env(map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(cfg.Kubernetes.ConfigPath) })
	b, err := os.ReadFile(cfg.Kubernetes.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, "server: https://10.0.0.1:443") || !strings.Contains(s, "tokenFile: "+dir+"/token") || strings.Contains(s, "tok\n") {
		t.Fatalf("kubeconfig:\n%s", s)
	}
	if cfg.Kubernetes.Namespace != "nalabo-system" {
		t.Fatalf("namespace from the service account: %q", cfg.Kubernetes.Namespace)
	}
}

func TestReapDue(t *testing.T) {
	exp := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := &workshop.Session{ExpiresAt: exp}
	for _, tc := range []struct {
		now   time.Time
		grace time.Duration
		want  bool
	}{
		{exp.Add(-time.Second), 0, false},
		{exp, 0, true},
		{exp.Add(4 * time.Minute), 5 * time.Minute, false},
		{exp.Add(5 * time.Minute), 5 * time.Minute, true},
		{exp.Add(time.Hour), 5 * time.Minute, true},
	} {
		if got := ReapDue(s, tc.now, tc.grace); got != tc.want {
			t.Errorf("now=expires%+v grace=%s: got %v", tc.now.Sub(exp), tc.grace, got)
		}
	}
	if ReapDue(&workshop.Session{}, exp, 0) || ReapDue(nil, exp, 0) {
		t.Error("a session without expiry must never be due")
	}
}

// TestStopAndReapDuePersistent: a persistent session is stopped (not deleted) from its
// expiry on, and deleted only once its retention is over; one without persistence is
// never stopped, only deleted.
func TestStopAndReapDuePersistent(t *testing.T) {
	exp := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := &workshop.Session{ExpiresAt: exp, Persistence: &workshop.Persistence{Size: "1Gi", RetainDays: 2}}
	plain := &workshop.Session{ExpiresAt: exp}
	for _, tc := range []struct {
		now               time.Time
		stop, reap, plain bool
	}{
		{exp.Add(-time.Second), false, false, false},
		{exp, true, false, true},
		{exp.Add(47 * time.Hour), true, false, true},
		{exp.Add(48 * time.Hour), true, true, true},
	} {
		if got := StopDue(p, tc.now, 0); got != tc.stop {
			t.Errorf("now=expires%+v: StopDue %v", tc.now.Sub(exp), got)
		}
		if got := ReapDue(p, tc.now, 0); got != tc.reap {
			t.Errorf("now=expires%+v: ReapDue %v", tc.now.Sub(exp), got)
		}
		if StopDue(plain, tc.now, 0) || ReapDue(plain, tc.now, 0) != tc.plain {
			t.Errorf("now=expires%+v: a session without persistence: stop %v reap %v", tc.now.Sub(exp),
				StopDue(plain, tc.now, 0), ReapDue(plain, tc.now, 0))
		}
	}
	stopped := *p
	stopped.Stopped = true
	if StopDue(&stopped, exp.Add(time.Hour), 0) {
		t.Error("a stopped session is stopped again")
	}
}

func TestMetricsRegistration(t *testing.T) {
	m := NewMetrics(nil)
	m.Reaped.WithLabelValues("docker", "intro").Inc()
	m.Errors.WithLabelValues("docker", "list").Inc()
	m.Duration.WithLabelValues("docker").Observe(0.1)
	m.Execs.WithLabelValues("docker", "intro", "ok").Inc()
	m.Validations.WithLabelValues("docker", "intro", "file", "passed").Inc()
	m.Passes.WithLabelValues("docker", "ok").Inc()
	m.LastSuccess.WithLabelValues("docker").Set(1)
	m.ReapedLifetime.WithLabelValues("docker", "intro").Observe(60)
	now := time.Now()
	m.snap.setBackend("docker", backendSample{Up: true, Info: &workshop.Info{AllocatableMilliCPU: 2000, Sessions: 1}})
	m.snap.setSessions("docker", []sessionSample{{
		Backend: "docker", ID: "abc123", Participant: "ada", Template: "intro", Status: "running",
		CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour),
		Stats:      &workshop.SessionStats{HasCPUSeconds: true, CPUSeconds: 1.5, MemoryBytes: 1 << 20, HasNetwork: true, NetworkRxBytes: 10},
		Validation: map[string]bool{"file": true},
	}})
	if n, err := testutil.GatherAndCount(m.Registry); err != nil || n == 0 {
		t.Fatalf("gather: %d %v", n, err)
	}
	if problems, err := testutil.GatherAndLint(m.Registry); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{
		"nalabo_sessions", "nalabo_session_age_seconds", "nalabo_session_lifetime_seconds",
		"nalabo_session_expires_at_timestamp_seconds", "nalabo_session_cpu_seconds_total",
		"nalabo_session_memory_working_set_bytes", "nalabo_session_network_receive_bytes_total",
		"nalabo_session_network_transmit_bytes_total", "nalabo_session_validation_passed",
		"nalabo_backend_up", "nalabo_backend_allocatable_cpu_millicores", "nalabo_backend_sessions",
		"nalabo_reaped_sessions_total", "nalabo_reconcile_errors_total", "nalabo_reconcile_duration_seconds",
		"nalabo_exec_total", "nalabo_validation_checks_total", "nalabo_reconcile_passes_total",
		"nalabo_reconcile_last_success_timestamp_seconds", "nalabo_reconciler_leader",
		"nalabo_reaped_session_lifetime_seconds", "go_goroutines",
	} {
		if !have[name] {
			t.Errorf("metric %s is not registered", name)
		}
	}
}

// fakeBackend is an in-memory backend for the pass logic (the Docker and Kubernetes
// tests run the same passes against the real engines).
type fakeBackend struct {
	mu       sync.Mutex
	sessions map[string]*workshop.Session
	deletes  map[string]int
	listErr  error
	// afterList runs after each listing (under the lock), n counting from 1.
	afterList func(n int)
	lists     int
}

func (f *fakeBackend) Type() workshop.InfrastructureType { return workshop.InfraDocker }
func (f *fakeBackend) Ping(context.Context) (*workshop.Info, error) {
	return &workshop.Info{ServerVersion: "fake"}, nil
}
func (f *fakeBackend) ApplyTemplate(context.Context, *workshop.Template) (*workshop.Template, error) {
	return nil, errors.New("unused")
}
func (f *fakeBackend) GetTemplate(context.Context, string) (*workshop.Template, error) {
	return nil, workshop.ErrNotFound
}
func (f *fakeBackend) DeleteTemplate(context.Context, string) error { return nil }
func (f *fakeBackend) CreateSession(context.Context, *workshop.SessionSpec) (*workshop.Session, error) {
	return nil, errors.New("unused")
}
func (f *fakeBackend) GetSession(_ context.Context, id string) (*workshop.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return nil, fmt.Errorf("session %s: %w", id, workshop.ErrNotFound)
	}
	c := *s
	return &c, nil
}
func (f *fakeBackend) UpdateSession(context.Context, string, *workshop.SessionSpec) (*workshop.Session, error) {
	return nil, errors.New("unused")
}
func (f *fakeBackend) DeleteSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes[id]++
	delete(f.sessions, id)
	return nil
}
func (f *fakeBackend) ListSessions(context.Context) ([]*workshop.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []*workshop.Session
	for _, s := range f.sessions {
		c := *s
		out = append(out, &c)
	}
	f.lists++
	if f.afterList != nil {
		f.afterList(f.lists)
	}
	return out, nil
}
func (f *fakeBackend) Exec(context.Context, string, *workshop.ExecRequest) (*workshop.ExecResult, error) {
	return nil, errors.New("unused")
}

func TestPassDecisions(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(id, tmpl string, expires time.Time) *workshop.Session {
		return &workshop.Session{ID: id, TemplateName: tmpl, Participant: "p-" + id, Status: workshop.StatusRunning,
			CreatedAt: now.Add(-time.Hour), ExpiresAt: expires}
	}
	f := &fakeBackend{deletes: map[string]int{}, sessions: map[string]*workshop.Session{
		"old":      mk("old", "intro", now.Add(-10*time.Minute)),  // due
		"grace":    mk("grace", "intro", now.Add(-2*time.Minute)), // within grace
		"live":     mk("live", "intro", now.Add(time.Hour)),       // alive
		"other":    mk("other", "advanced", now.Add(-time.Hour)),  // other template: not selected
		"noexpiry": mk("noexpiry", "intro", time.Time{}),          // never due
	}}
	cfg := &Config{Interval: time.Minute, Grace: 5 * time.Minute, Parallelism: 2, DeleteTimeout: time.Minute,
		Templates: []string{"intro"}}
	r := New(cfg, []workshop.Backend{f}, nil, nil, WithClock(func() time.Time { return now }))

	// Not leading: nothing is deleted.
	r.SetLeading(func() (context.Context, bool) { return nil, false })
	res := r.RunOnce(context.Background())[0]
	if len(res.Due) != 1 || len(res.Reaped) != 0 || len(f.deletes) != 0 {
		t.Fatalf("not leading: %+v deletes %v", res, f.deletes)
	}
	if v := testutil.ToFloat64(r.metrics.Leader); v != 0 {
		t.Fatalf("leader gauge %v", v)
	}

	// Dry run: nothing deleted either.
	r.SetLeading(nil)
	cfg.DryRun = true
	res = r.RunOnce(context.Background())[0]
	if len(res.Reaped) != 0 || len(f.deletes) != 0 {
		t.Fatalf("dry run deleted: %+v", f.deletes)
	}
	cfg.DryRun = false

	res = r.RunOnce(context.Background())[0]
	if res.Listed != 4 || strings.Join(res.Reaped, ",") != "old" || f.deletes["old"] != 1 || len(f.deletes) != 1 || res.Err() != nil {
		t.Fatalf("pass: %+v deletes %v", res, f.deletes)
	}
	if v := testutil.ToFloat64(r.metrics.Reaped.WithLabelValues("docker", "intro")); v != 1 {
		t.Fatalf("reaped counter %v", v)
	}
	// The gauges count what is left: grace, live, noexpiry (all running).
	samples := r.metrics.snap.sessionsOf("docker")
	if len(samples) != 3 {
		t.Fatalf("samples: %+v", samples)
	}

	// A session extended between the first listing and the delete is kept; one
	// removed meanwhile (by another reconciler) is not counted.
	f.sessions["ext"] = mk("ext", "intro", now.Add(-time.Hour))
	f.sessions["gone"] = mk("gone", "intro", now.Add(-time.Hour))
	f.lists = 0
	f.afterList = func(n int) {
		if n == 1 {
			f.sessions["ext"].ExpiresAt = now.Add(time.Hour)
			delete(f.sessions, "gone")
		}
	}
	res = r.RunOnce(context.Background())[0]
	f.afterList = nil
	if f.deletes["ext"] != 0 || f.deletes["gone"] != 0 || len(res.Reaped) != 0 || strings.Join(res.DeletedByOther, ",") != "gone" {
		t.Fatalf("extended or gone meanwhile: %+v deletes %v", res, f.deletes)
	}

	// A list error is counted and reported.
	f.listErr = errors.New("boom")
	res = r.RunOnce(context.Background())[0]
	if res.Err() == nil || testutil.ToFloat64(r.metrics.Errors.WithLabelValues("docker", "list")) != 1 {
		t.Fatalf("list error: %+v", res)
	}
}

func TestHandler(t *testing.T) {
	f := &fakeBackend{deletes: map[string]int{}, sessions: map[string]*workshop.Session{}}
	r := New(&Config{Interval: time.Minute, Parallelism: 1, DeleteTimeout: time.Minute}, []workshop.Backend{f}, nil, nil)
	base := serve(t, r)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "docker: ok (server fake)", "/metrics": "nalabo_reconciler_leader"} {
		code, body := get(t, base+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

// serve runs the handler on a loopback port for the test's lifetime.
func serve(t *testing.T, r *Reconciler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed at cleanup
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPassRemnants: incomplete sessions and sessions without their workspace are
// deleted once older than the remnant grace, whatever their expiry; complete ones and
// young remnants are kept.
func TestPassRemnants(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(id, status string, incomplete bool, age time.Duration) *workshop.Session {
		return &workshop.Session{ID: id, TemplateName: "intro", Status: status, Incomplete: incomplete,
			CreatedAt: now.Add(-age), ExpiresAt: now.Add(3 * time.Hour)}
	}
	f := &fakeBackend{deletes: map[string]int{}, sessions: map[string]*workshop.Session{
		"half":     mk("half", workshop.StatusPending, true, time.Hour),
		"noworksp": mk("noworksp", workshop.StatusDegraded, false, time.Hour),
		"creating": mk("creating", workshop.StatusPending, true, time.Minute),
		"live":     mk("live", workshop.StatusRunning, false, time.Hour),
	}}
	cfg := &Config{Interval: time.Minute, Grace: 5 * time.Minute, RemnantGrace: 30 * time.Minute, Parallelism: 2,
		DeleteTimeout: time.Minute}
	r := New(cfg, []workshop.Backend{f}, nil, nil, WithClock(func() time.Time { return now }))
	res := r.RunOnce(context.Background())[0]
	if res.Err() != nil || strings.Join(res.Remnants, ",") != "half,noworksp" && strings.Join(res.Remnants, ",") != "noworksp,half" {
		t.Fatalf("remnants %v (err %v)", res.Remnants, res.Err())
	}
	if len(res.Reaped) != 2 || f.deletes["half"] != 1 || f.deletes["noworksp"] != 1 || len(f.deletes) != 2 {
		t.Fatalf("reaped %v deletes %v", res.Reaped, f.deletes)
	}
}

func TestParseNodeHosts(t *testing.T) {
	got, err := parseNodeHosts(" n2=tcp://10.0.0.2:2376, 7hx3=unix:///run/x.sock ")
	if err != nil || len(got) != 2 || got["n2"] != "tcp://10.0.0.2:2376" || got["7hx3"] != "unix:///run/x.sock" {
		t.Fatalf("parseNodeHosts = %v, %v", got, err)
	}
	if got, err := parseNodeHosts(""); err != nil || got != nil {
		t.Fatalf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"n2", "=tcp://x", "n2=", "a=b,,"} {
		if _, err := parseNodeHosts(bad); err == nil || !strings.Contains(err.Error(), "NALABO_SWARM_NODE_HOSTS") {
			t.Errorf("%q: err = %v, want one naming NALABO_SWARM_NODE_HOSTS", bad, err)
		}
	}
}

// TestPoolEntriesNotSessions: free entries are split off the sessions (never sampled nor
// reaped), an incomplete one stays (a remnant); claims and fallbacks are counted once.
func TestPoolEntriesNotSessions(t *testing.T) {
	all := []*workshop.Session{
		{ID: "free1", Pool: workshop.PoolFree},
		{ID: "fill1", Pool: workshop.PoolFree, Incomplete: true},
		{ID: "claim1", Pool: workshop.PoolClaimed, TemplateName: "intro", Participant: "ada"},
		{ID: "cold1", Pool: workshop.PoolCold, TemplateName: "intro", Participant: "bob"},
		{ID: "plain", TemplateName: "intro", Participant: "cy"},
	}
	sessions, entries := splitPool(all)
	if len(entries) != 1 || entries[0].ID != "free1" || len(sessions) != 4 {
		t.Fatalf("sessions %d, entries %v", len(sessions), entries)
	}
	m := NewMetrics(nil)
	m.pool.observe("kubernetes", all)
	m.pool.observe("kubernetes", all) // a second pass counts nothing again
	if got := testutil.ToFloat64(m.pool.Claims.WithLabelValues("kubernetes", "intro")); got != 1 {
		t.Errorf("claims %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.pool.ColdFallbacks.WithLabelValues("kubernetes", "intro")); got != 1 {
		t.Errorf("cold fallbacks %v, want 1", got)
	}
	m.pool.setPools("kubernetes", []workshop.PoolStatus{{TemplateID: "kubernetes.intro.0123456789ab", TemplateName: "intro", Size: 3, Free: 2}})
	n, err := testutil.GatherAndCount(m.Registry, "nalabo_pool_entries", "nalabo_pool_size")
	if err != nil || n != 5 {
		t.Errorf("pool series %d (%v), want 4 states + size", n, err)
	}
}
