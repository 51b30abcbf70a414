package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's Prometheus counters. Labels never hold a token or key:
// only outcomes, operations and API key names.
type Metrics struct {
	Registry *prometheus.Registry

	Accesses        *prometheus.CounterVec
	TokenFailures   *prometheus.CounterVec
	RateLimited     prometheus.Counter
	Terminals       *prometheus.CounterVec
	TerminalsActive prometheus.Gauge
	TerminalBytes   *prometheus.CounterVec
	API             *prometheus.CounterVec
	Validations     *prometheus.CounterVec
	PortRequests    *prometheus.CounterVec
}

// NewMetrics registers every metric in a new registry (plus the Go and process
// collectors).
func NewMetrics() *Metrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "nalabo", Subsystem: "gateway", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		Registry:      prometheus.NewRegistry(),
		Accesses:      c("accesses_total", "Participant page loads and token exchanges, by result (ok, denied).", "result"),
		TokenFailures: c("token_failures_total", "Refused access tokens, by reason (missing, malformed, signature, expired, wrong_session, unknown_session).", "reason"),
		RateLimited: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "nalabo", Subsystem: "gateway", Name: "rate_limited_total",
			Help: "Requests refused because their client address sent too many bad tokens."}),
		Terminals: c("terminals_total", "Terminals opened, by result (ok, error).", "result"),
		TerminalsActive: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "nalabo", Subsystem: "gateway", Name: "terminals_active",
			Help: "Terminals open now."}),
		TerminalBytes: c("terminal_bytes_total", "Bytes carried by terminals, by direction (in: keystrokes, out: output).", "direction"),
		API:           c("api_requests_total", "Runtime API requests, by operation (get, execute, apply, validate) and result (ok, unauthorized, bad_request, not_found, error).", "operation", "result"),
		Validations:   c("validation_checks_total", "Validation checks run through the gateway, by result (passed, failed).", "result"),
		PortRequests:  c("port_requests_total", "Requests to sessions' web ports, by result (ok, denied, not_declared, error).", "result"),
	}
	m.Registry.MustRegister(m.Accesses, m.TokenFailures, m.RateLimited, m.Terminals, m.TerminalsActive, m.TerminalBytes, m.API,
		m.Validations, m.PortRequests, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
