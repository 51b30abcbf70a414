package reconciler

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Metric names (all under the nalabo_ prefix).
const metricNS = "nalabo"

// Metrics holds the reconciler's Prometheus registry: counters and histograms updated
// as things happen, and gauges served from the snapshot of the last pass (so a scrape
// never calls a backend and never sees a half-updated set).
type Metrics struct {
	Registry *prometheus.Registry

	Reaped         *prometheus.CounterVec
	Errors         *prometheus.CounterVec
	Duration       *prometheus.HistogramVec
	Execs          *prometheus.CounterVec
	Validations    *prometheus.CounterVec
	Passes         *prometheus.CounterVec
	LastSuccess    *prometheus.GaugeVec
	Leader         prometheus.Gauge
	ReapedLifetime *prometheus.HistogramVec
	OverQuota      *prometheus.CounterVec
	Leftovers      *prometheus.CounterVec
	// StoppedAtExpiry counts persistent sessions stopped (not deleted) at expiry.
	StoppedAtExpiry *prometheus.CounterVec

	snap *snapshotCollector
	pool *poolMetrics
}

// sessionSample is what the last pass saw of one session.
type sessionSample struct {
	Backend, ID, Participant, Template, Status string
	CreatedAt, ExpiresAt                       time.Time
	Stats                                      *workshop.SessionStats
	// CPUMilliFromDelta is the CPU rate computed from two consecutive samples (Docker).
	CPUMilliFromDelta *float64
	// Validation results of the last run in this session (name -> passed).
	Validation map[string]bool
	// Storage is the session's last measured disk use (nil: not measured).
	Storage *workshop.StorageUsage
}

// backendSample is what the last pass saw of one backend.
type backendSample struct {
	Up   bool
	Info *workshop.Info
}

// snapshotCollector serves the gauges of the last pass.
type snapshotCollector struct {
	mu       sync.RWMutex
	now      func() time.Time
	sessions map[string][]sessionSample // by backend
	backends map[string]backendSample

	sessionsDesc, ageDesc, lifetimeDesc, expiresDesc             *prometheus.Desc
	cpuSecondsDesc, cpuMilliDesc, memDesc, memLimitDesc          *prometheus.Desc
	rxDesc, txDesc, validationDesc                               *prometheus.Desc
	upDesc, allocCPUDesc, allocMemDesc, usedCPUDesc, usedMemDesc *prometheus.Desc
	backendSessionsDesc                                          *prometheus.Desc
	storageDesc, storageBudgetDesc, overQuotaDesc                *prometheus.Desc
}

var sessionLabels = []string{"backend", "session", "participant", "template"}

func newSnapshotCollector(now func() time.Time) *snapshotCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricNS, "", name), help, labels, nil)
	}
	return &snapshotCollector{
		now:      now,
		sessions: map[string][]sessionSample{},
		backends: map[string]backendSample{},
		sessionsDesc: d("sessions", "Sessions seen by the last pass, by backend, template and status (reaped ones excluded).",
			"backend", "template", "status"),
		ageDesc:      d("session_age_seconds", "Time since the session was created.", sessionLabels...),
		lifetimeDesc: d("session_lifetime_seconds", "The session's planned lifetime: expires_at minus created_at.", sessionLabels...),
		expiresDesc:  d("session_expires_at_timestamp_seconds", "The session's expires_at, in Unix seconds.", sessionLabels...),
		cpuSecondsDesc: d("session_cpu_seconds_total",
			"CPU time used by the session's containers since they started (Docker stats).", sessionLabels...),
		cpuMilliDesc: d("session_cpu_usage_millicores",
			"Current CPU usage of the session in millicores (Kubernetes metrics API; on Docker the rate between the last two passes).",
			sessionLabels...),
		memDesc:      d("session_memory_working_set_bytes", "Memory used by the session, without reclaimable page cache.", sessionLabels...),
		memLimitDesc: d("session_memory_limit_bytes", "Memory limit the session's usage counts against (Docker stats).", sessionLabels...),
		rxDesc:       d("session_network_receive_bytes_total", "Bytes received by the session's containers (Docker stats).", sessionLabels...),
		txDesc:       d("session_network_transmit_bytes_total", "Bytes sent by the session's containers (Docker stats).", sessionLabels...),
		validationDesc: d("session_validation_passed",
			"Result of the last run of a validation check in the session: 1 passed, 0 failed.",
			append(append([]string{}, sessionLabels...), "check")...),
		upDesc:              d("backend_up", "1 when the backend answered the last ping.", "backend"),
		allocCPUDesc:        d("backend_allocatable_cpu_millicores", "CPU the infrastructure can give, in millicores.", "backend"),
		allocMemDesc:        d("backend_allocatable_memory_bytes", "Memory the infrastructure can give, in bytes.", "backend"),
		usedCPUDesc:         d("backend_reserved_cpu_millicores", "CPU reserved by sessions' limits or quotas, in millicores (stopped persistent sessions reserve none).", "backend"),
		usedMemDesc:         d("backend_reserved_memory_bytes", "Memory reserved by sessions' limits or quotas, in bytes (stopped persistent sessions reserve none).", "backend"),
		backendSessionsDesc: d("backend_sessions", "Sessions the backend reports (all templates).", "backend"),
		storageDesc: d("session_storage_bytes",
			"Disk used by the session: its containers' writable layers plus its volumes (Docker /system/df).", sessionLabels...),
		storageBudgetDesc: d("session_storage_budget_bytes", "The session's storage resource, in bytes.", sessionLabels...),
		overQuotaDesc: d("session_over_quota",
			"1 when the session uses more disk than its storage budget (status over_quota), else 0.", sessionLabels...),
	}
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessionsDesc, c.ageDesc, c.lifetimeDesc, c.expiresDesc, c.cpuSecondsDesc,
		c.cpuMilliDesc, c.memDesc, c.memLimitDesc, c.rxDesc, c.txDesc, c.validationDesc, c.upDesc, c.allocCPUDesc,
		c.allocMemDesc, c.usedCPUDesc, c.usedMemDesc, c.backendSessionsDesc, c.storageDesc, c.storageBudgetDesc, c.overQuotaDesc} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for backend, list := range c.sessions {
		type key struct{ template, status string }
		counts := map[key]int{}
		for _, s := range list {
			counts[key{s.Template, s.Status}]++
			l := []string{s.Backend, s.ID, s.Participant, s.Template}
			if !s.CreatedAt.IsZero() {
				gauge(c.ageDesc, now.Sub(s.CreatedAt).Seconds(), l...)
				if !s.ExpiresAt.IsZero() {
					gauge(c.lifetimeDesc, s.ExpiresAt.Sub(s.CreatedAt).Seconds(), l...)
				}
			}
			if !s.ExpiresAt.IsZero() {
				gauge(c.expiresDesc, float64(s.ExpiresAt.Unix()), l...)
			}
			if st := s.Stats; st != nil {
				if st.HasCPUSeconds {
					counter(c.cpuSecondsDesc, st.CPUSeconds, l...)
				}
				switch {
				case st.HasCPUMilli:
					gauge(c.cpuMilliDesc, st.CPUMilli, l...)
				case s.CPUMilliFromDelta != nil:
					gauge(c.cpuMilliDesc, *s.CPUMilliFromDelta, l...)
				}
				gauge(c.memDesc, float64(st.MemoryBytes), l...)
				if st.MemoryLimitBytes > 0 {
					gauge(c.memLimitDesc, float64(st.MemoryLimitBytes), l...)
				}
				if st.HasNetwork {
					counter(c.rxDesc, float64(st.NetworkRxBytes), l...)
					counter(c.txDesc, float64(st.NetworkTxBytes), l...)
				}
			}
			if u := s.Storage; u != nil {
				gauge(c.storageDesc, float64(u.Bytes), l...)
				if u.BudgetBytes > 0 {
					gauge(c.storageBudgetDesc, float64(u.BudgetBytes), l...)
				}
				over := 0.0
				if u.Over() {
					over = 1
				}
				gauge(c.overQuotaDesc, over, l...)
			}
			for check, ok := range s.Validation {
				v := 0.0
				if ok {
					v = 1
				}
				gauge(c.validationDesc, v, append(l, check)...)
			}
		}
		for k, n := range counts {
			gauge(c.sessionsDesc, float64(n), backend, k.template, k.status)
		}
	}
	for backend, b := range c.backends {
		up := 0.0
		if b.Up {
			up = 1
		}
		gauge(c.upDesc, up, backend)
		if b.Info != nil {
			gauge(c.allocCPUDesc, float64(b.Info.AllocatableMilliCPU), backend)
			gauge(c.allocMemDesc, float64(b.Info.AllocatableMemory), backend)
			gauge(c.usedCPUDesc, float64(b.Info.UsedMilliCPU), backend)
			gauge(c.usedMemDesc, float64(b.Info.UsedMemory), backend)
			gauge(c.backendSessionsDesc, float64(b.Info.Sessions), backend)
		}
	}
}

// setSessions replaces a backend's session samples.
func (c *snapshotCollector) setSessions(backend string, list []sessionSample) {
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessions[backend] = list
}

// sessionsOf returns a copy of a backend's last samples.
func (c *snapshotCollector) sessionsOf(backend string) []sessionSample {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]sessionSample(nil), c.sessions[backend]...)
}

// setBackend records a backend's last ping.
func (c *snapshotCollector) setBackend(backend string, s backendSample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backends[backend] = s
}

// NewMetrics registers every metric in a new registry (plus the Go and process
// collectors).
func NewMetrics(now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Reaped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "reaped_sessions_total",
			Help: "Sessions this reconciler deleted because they were past expires_at plus the grace period.",
		}, []string{"backend", "template"}),
		Leftovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "reaped_leftovers_total",
			Help: "Objects outside sessions that killed processes left behind (Kubernetes pre-pull DaemonSets), removed by this reconciler.",
		}, []string{"backend"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "reconcile_errors_total",
			Help: "Errors of reconcile passes, by backend and operation (ping, list, get, delete, stats, template, validate, leftovers).",
		}, []string{"backend", "operation"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNS, Name: "reconcile_duration_seconds",
			Help:    "Duration of a reconcile pass over one backend.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"backend"}),
		Execs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "exec_total",
			Help: "Commands the reconciler ran in sessions (validation checks), by result: ok, nonzero, timeout, error.",
		}, []string{"backend", "template", "result"}),
		Validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "validation_checks_total",
			Help: "Validation checks run in sessions, by template, check and result (passed, failed).",
		}, []string{"backend", "template", "check", "result"}),
		Passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "reconcile_passes_total",
			Help: "Reconcile passes over one backend, by result (ok, error).",
		}, []string{"backend", "result"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricNS, Name: "reconcile_last_success_timestamp_seconds",
			Help: "When the last pass over the backend ended without error, in Unix seconds.",
		}, []string{"backend"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricNS, Name: "reconciler_leader",
			Help: "1 when this reconciler may delete and validate (it leads, or no election is configured).",
		}),
		ReapedLifetime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNS, Name: "reaped_session_lifetime_seconds",
			Help:    "Time from creation to deletion of the sessions this reconciler reaped.",
			Buckets: []float64{60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 7 * 24 * 3600},
		}, []string{"backend", "template"}),
		OverQuota: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "over_quota_actions_total",
			Help: "Sessions over their storage budget this reconciler marked over_quota or stopped, by action (marked, stopped).",
		}, []string{"backend", "template", "action"}),
		StoppedAtExpiry: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "stopped_at_expiry_sessions_total",
			Help: "Persistent sessions this reconciler stopped at expires_at (their data is kept until the retention ends).",
		}, []string{"backend", "template"}),
		snap: newSnapshotCollector(now),
		pool: newPoolMetrics(),
	}
	reg.MustRegister(m.Reaped, m.Leftovers, m.Errors, m.Duration, m.Execs, m.Validations, m.Passes, m.LastSuccess, m.Leader,
		m.ReapedLifetime, m.OverQuota, m.StoppedAtExpiry, m.snap, m.pool, m.pool.Claims, m.pool.ColdFallbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
