package reconciler

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Warm pools (DESIGN.md, "Warm pool"): free entries are nobody's session, so a pass
// neither samples nor validates them (nor reaps them as expired: they have no expiry);
// an entry whose start never finished is a remnant like any other. The leader refills
// every pooled template's pool to its warm_pool.

// poolMetrics are the warm pool's metrics.
type poolMetrics struct {
	Claims        *prometheus.CounterVec
	ColdFallbacks *prometheus.CounterVec

	mu      sync.Mutex
	counted map[string]bool // backend/session already counted as a claim or a fallback
	pools   map[string][]workshop.PoolStatus

	entriesDesc, sizeDesc *prometheus.Desc
}

func newPoolMetrics() *poolMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricNS, "", name), help, labels, nil)
	}
	return &poolMetrics{
		Claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "pool_claims_total",
			Help: "Sessions seen that claimed a warm pool entry, by template.",
		}, []string{"backend", "template"}),
		ColdFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNS, Name: "pool_cold_fallbacks_total",
			Help: "Sessions seen of a pooled template that started cold because no entry was free, by template.",
		}, []string{"backend", "template"}),
		counted: map[string]bool{},
		pools:   map[string][]workshop.PoolStatus{},
		entriesDesc: d("pool_entries", "Warm pool entries seen by the last pass, by template and state "+
			"(free, filling, claimed: live sessions that came from the pool, cold: live sessions that missed it).",
			"backend", "template", "template_id", "state"),
		sizeDesc: d("pool_size", "The template's warm_pool.", "backend", "template", "template_id"),
	}
}

func (m *poolMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.entriesDesc
	ch <- m.sizeDesc
}

func (m *poolMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for backend, list := range m.pools {
		for _, p := range list {
			for state, n := range map[string]int{workshop.PoolFree: p.Free, "filling": p.Filling,
				workshop.PoolClaimed: p.Claimed, workshop.PoolCold: p.Cold} {
				ch <- prometheus.MustNewConstMetric(m.entriesDesc, prometheus.GaugeValue, float64(n), backend, p.TemplateName, p.TemplateID, state)
			}
			ch <- prometheus.MustNewConstMetric(m.sizeDesc, prometheus.GaugeValue, float64(p.Size), backend, p.TemplateName, p.TemplateID)
		}
	}
}

// observe counts the claims and cold fallbacks among the listed sessions not counted
// before, and forgets the sessions no longer listed.
func (m *poolMetrics) observe(backend string, sessions []*workshop.Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := map[string]bool{}
	for _, s := range sessions {
		k := backend + "/" + s.ID
		live[k] = true
		if m.counted[k] || s.Incomplete {
			continue
		}
		switch s.Pool {
		case workshop.PoolClaimed:
			m.Claims.WithLabelValues(backend, s.TemplateName).Inc()
		case workshop.PoolCold:
			m.ColdFallbacks.WithLabelValues(backend, s.TemplateName).Inc()
		default:
			continue
		}
		m.counted[k] = true
	}
	prune(m.counted, backend+"/", live)
}

func (m *poolMetrics) setPools(backend string, pools []workshop.PoolStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pools[backend] = pools
}

// splitPool separates the free (and draining) pool entries whose start finished from
// the sessions.
func splitPool(all []*workshop.Session) (sessions, entries []*workshop.Session) {
	for _, s := range all {
		if (s.Pool == workshop.PoolFree || s.Pool == workshop.PoolDraining) && !s.Incomplete {
			entries = append(entries, s)
			continue
		}
		sessions = append(sessions, s)
	}
	return sessions, entries
}

// pools refills (when this reconciler leads) and reports the warm pools of the selected
// templates.
func (p *passRun) pools(ctx context.Context) {
	wp, ok := p.b.(workshop.WarmPooler)
	if !ok {
		return
	}
	if p.leads {
		templates, err := wp.PooledTemplates(ctx)
		if errors.Is(err, workshop.ErrForbidden) {
			// A least-privilege reconciler: the pools are Terraform's to refill (drift).
			p.log.Debug("warm pools not refilled nor reported: this identity may not", "error", err)
			return
		}
		if err != nil {
			p.fail("pool", err)
		}
		refilled := err == nil
		for _, t := range templates {
			if len(p.r.cfg.Templates) > 0 && !slices.Contains(p.r.cfg.Templates, t.Name) {
				continue
			}
			st, err := wp.ResizePool(p.actCtx, t, t.WarmPool, p.r.cfg.Parallelism)
			if errors.Is(err, workshop.ErrForbidden) {
				refilled = false
				p.log.Debug("warm pool not refilled: this identity may not", "template_id", t.ID, "error", err)
				continue
			}
			if err != nil {
				refilled = false
				p.fail("pool", err)
				p.log.Warn("cannot refill the warm pool", "template_id", t.ID, "free", st.Free, "error", err)
			} else if st.Free > 0 {
				p.log.Debug("warm pool filled", "template_id", t.ID, "free", st.Free)
			}
		}
		// The provider leaves growing pools to a reconciler that has just refilled them
		// all (one without the rights to, never does). No Lease (no election): nothing to mark.
		if refilled && len(p.r.cfg.Templates) == 0 {
			if err := wp.MarkPoolsRefilled(p.actCtx); err != nil {
				p.log.Debug("pools refilled, not recorded on the Lease", "error", err)
			}
		}
	}
	pools, err := wp.Pools(ctx)
	if errors.Is(err, workshop.ErrForbidden) {
		p.log.Debug("warm pools not reported: this identity may not", "error", err)
		return
	}
	if err != nil {
		p.fail("pool", err)
		return
	}
	p.r.metrics.pool.setPools(p.name, pools)
}
