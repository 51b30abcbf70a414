package reconciler

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// readyMaxAge is how old a ping may be before /readyz pings again.
const readyMaxAge = 30 * time.Second

// readyPingTimeout bounds the pings of one /readyz request.
const readyPingTimeout = 5 * time.Second

// readiness remembers the last ping of every backend.
type readiness struct {
	mu   sync.Mutex
	last map[string]pingResult
	// pinging serialises live pings from /readyz.
	pinging sync.Mutex
}

type pingResult struct {
	at      time.Time
	version string
	err     error
}

func (r *readiness) record(backend string, info *workshop.Info, err error, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]pingResult{}
	}
	p := pingResult{at: at, err: err}
	if info != nil {
		p.version = info.ServerVersion
	}
	r.last[backend] = p
}

func (r *readiness) get(backend string) (pingResult, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.last[backend]
	return p, ok
}

// Ready pings the backends whose last ping is older than readyMaxAge and reports
// whether every backend answered, with one line per backend.
func (r *Reconciler) Ready(ctx context.Context) (bool, []string) {
	r.ready.pinging.Lock()
	defer r.ready.pinging.Unlock()
	var wg sync.WaitGroup
	for _, b := range r.backends {
		name := string(b.Type())
		if p, ok := r.ready.get(name); ok && time.Since(p.at) < readyMaxAge {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, readyPingTimeout)
			defer cancel()
			info, err := b.Ping(pctx)
			r.ready.record(name, info, err, time.Now())
		}()
	}
	wg.Wait()
	ok := true
	var lines []string
	for _, b := range r.backends {
		name := string(b.Type())
		p, _ := r.ready.get(name)
		if p.err != nil {
			ok = false
			lines = append(lines, fmt.Sprintf("%s: unreachable: %v", name, p.err))
		} else {
			lines = append(lines, fmt.Sprintf("%s: ok (server %s)", name, p.version))
		}
	}
	sort.Strings(lines)
	return ok, lines
}

// Handler serves /healthz (the process runs), /readyz (every backend answers a ping)
// and /metrics (Prometheus text format).
func (r *Reconciler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ok, lines := r.Ready(req.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "nalabo reconciler: /healthz /readyz /metrics")
	})
	return mux
}
