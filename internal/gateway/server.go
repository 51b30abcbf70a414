package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nalabo/terraform-provider-nalabo/internal/gateway/token"
	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// cookieName holds the access token once exchanged (scoped to /s/<session>/).
const cookieName = "nalabo_token"

// Server is the gateway's HTTP handler. It holds no session state: its only memory is
// the failed-token rate limiter.
type Server struct {
	cfg      *Config
	backends []workshop.Backend
	log      hclog.Logger
	metrics  *Metrics
	audit    *Auditor
	limiter  *failLimiter
	now      func() time.Time
	// sessionCheck is how often an open terminal checks that its session still exists.
	sessionCheck time.Duration
}

// New returns a gateway serving sessions of backends; audit records go to auditOut.
func New(cfg *Config, backends []workshop.Backend, log hclog.Logger, auditOut io.Writer) *Server {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Server{cfg: cfg, backends: backends, log: log, metrics: NewMetrics(), audit: NewAuditor(auditOut),
		limiter: newFailLimiter(time.Now), now: time.Now, sessionCheck: 15 * time.Second}
}

// Metrics returns the server's metrics (tests read them).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handler routes every endpoint of the gateway.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.Handle("GET /assets/", assetsHandler())
	mux.HandleFunc("GET /s/{id}", func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Path += "/"
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /s/{id}/{$}", s.page)
	mux.HandleFunc("GET /s/{id}/terminal", s.terminal)
	mux.HandleFunc("POST /s/{id}/validate", s.participantValidate)
	mux.HandleFunc("/s/{id}/port/{port}", s.portProxy)
	mux.HandleFunc("/s/{id}/port/{port}/{rest...}", s.portProxy)
	mux.HandleFunc("GET /api/workshops/sessions/{id}", s.api(opGet, s.apiGet))
	mux.HandleFunc("POST /api/workshops/sessions/{id}/execute", s.api(opExecute, s.apiExecute))
	mux.HandleFunc("POST /api/workshops/sessions/{id}/validate", s.api(opValidate, s.apiValidate))
	mux.HandleFunc("POST /api/workshops/sessions/{id}/apply", s.api(opApply, s.apiApply))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "nalabo gateway: open your session's access link")
	})
	return securityHeaders(mux)
}

// securityHeaders sets what every response carries: no framing, no sniffing, no
// referrer (a URL may hold a token), scripts only from the gateway itself.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		// xterm.js sets inline styles; scripts stay 'self' only.
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
			"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}

// readyz answers 200 when every backend answers a ping.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := true
	var lines []string
	for _, b := range s.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info, err := b.Ping(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ok = false
				lines = append(lines, fmt.Sprintf("%s: unreachable: %v", b.Type(), err))
			} else {
				lines = append(lines, fmt.Sprintf("%s: ok (server %s)", b.Type(), info.ServerVersion))
			}
		}()
	}
	wg.Wait()
	sort.Strings(lines)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}

// errSessionGone: the session does not exist (any more) on any backend.
var errSessionGone = errors.New("session gone")

// findSession returns the live session id and its backend; errSessionGone when no
// backend has it or it has expired.
func (s *Server) findSession(ctx context.Context, id string) (workshop.Backend, *workshop.Session, error) {
	if workshop.ValidateSessionID(id) != nil {
		return nil, nil, errSessionGone
	}
	var errs []error
	for _, b := range s.backends {
		sess, err := b.GetSession(ctx, id)
		if errors.Is(err, workshop.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.Type(), err))
			continue
		}
		if sess.Incomplete || (!sess.ExpiresAt.IsZero() && !s.now().Before(sess.ExpiresAt)) {
			return nil, nil, errSessionGone
		}
		return b, sess, nil
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return nil, nil, errSessionGone
}

// access is a participant's verified access to a live session.
type access struct {
	backend workshop.Backend
	session *workshop.Session
	claims  token.Claims
}

// until is when the access ends: the token's expiry or the session's, the earlier.
func (a *access) until() time.Time {
	if !a.session.ExpiresAt.IsZero() && a.session.ExpiresAt.Before(a.claims.Expires) {
		return a.session.ExpiresAt
	}
	return a.claims.Expires
}

// failReason names a token error for metrics (never the token).
func failReason(err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return "expired"
	case errors.Is(err, token.ErrWrongSession):
		return "wrong_session"
	case errors.Is(err, token.ErrBadSignature), errors.Is(err, token.ErrUnknownKey):
		return "signature"
	default:
		return "malformed"
	}
}

// authorize checks tok for session id: rate limit, signature, expiry, then that the
// session exists. On failure it has answered the request.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, id, tok string, asJSON bool) (*access, bool) {
	ip := clientIP(r)
	deny := func(code int, msg string) (*access, bool) {
		s.metrics.Accesses.WithLabelValues("denied").Inc()
		s.fail(w, code, msg, asJSON)
		return nil, false
	}
	if s.limiter.Blocked(ip) {
		s.metrics.RateLimited.Inc()
		w.Header().Set("Retry-After", fmt.Sprint(int(failEvery.Seconds())))
		return deny(http.StatusTooManyRequests, "Too many invalid links from your address: wait a minute and try again.")
	}
	if tok == "" {
		s.metrics.TokenFailures.WithLabelValues("missing").Inc()
		return deny(http.StatusUnauthorized, "Open this page with the access link you were given.")
	}
	claims, err := token.Verify(s.cfg.Keys, tok, id, s.now())
	if err != nil {
		s.limiter.Fail(ip)
		reason := failReason(err)
		s.metrics.TokenFailures.WithLabelValues(reason).Inc()
		s.log.Info("refused an access token", "session", id, "reason", reason, "remote", ip)
		if reason == "expired" {
			return deny(http.StatusGone, "This session has ended.")
		}
		return deny(http.StatusForbidden, "This access link is not valid for this session.")
	}
	b, sess, err := s.findSession(r.Context(), id)
	if errors.Is(err, errSessionGone) {
		s.metrics.TokenFailures.WithLabelValues("unknown_session").Inc()
		return deny(http.StatusGone, "This session has ended.")
	}
	if err != nil {
		s.log.Error("cannot read the session", "session", id, "error", err)
		s.fail(w, http.StatusBadGateway, "The workshop infrastructure did not answer; try again in a moment.", asJSON)
		return nil, false
	}
	return &access{backend: b, session: sess, claims: claims}, true
}

// participantAccess authorizes a request carrying the session cookie.
func (s *Server) participantAccess(w http.ResponseWriter, r *http.Request, asJSON bool) (*access, bool) {
	tok := ""
	if c, err := r.Cookie(cookieName); err == nil {
		tok = c.Value
	}
	return s.authorize(w, r, r.PathValue("id"), tok, asJSON)
}

func (s *Server) fail(w http.ResponseWriter, code int, msg string, asJSON bool) {
	w.Header().Set("Cache-Control", "no-store")
	if asJSON {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = errorPage.Execute(w, map[string]any{"Code": code, "Message": msg})
}

// sameOrigin checks the Origin header of a browser request that changes something
// (WebSocket, POST): the gateway's own origin or one of --allowed-origins.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if strings.EqualFold(origin, scheme+"://"+r.Host) {
		return true
	}
	for _, o := range s.cfg.Origins {
		if strings.EqualFold(origin, o) {
			return true
		}
	}
	return false
}
