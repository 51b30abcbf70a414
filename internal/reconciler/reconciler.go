package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// Timeouts of single backend calls within a pass.
const (
	pingTimeout     = 30 * time.Second
	listTimeout     = time.Minute
	statsTimeout    = 20 * time.Second
	templateTimeout = 30 * time.Second
)

// ReapDue reports whether a session is due for deletion at now: it has an expiry and
// now is at or past expires_at (plus, for a persistent session, its retention) plus
// grace. A session without expiry is never due.
func ReapDue(s *workshop.Session, now time.Time, grace time.Duration) bool {
	if s == nil || s.ExpiresAt.IsZero() {
		return false
	}
	return !now.Before(workshop.DeleteAt(s).Add(grace))
}

// StopDue reports whether a persistent session is due for stopping at now: it is past
// expires_at plus grace (not yet past its retention) and still runs.
func StopDue(s *workshop.Session, now time.Time, grace time.Duration) bool {
	if s == nil || s.Persistence == nil || s.ExpiresAt.IsZero() || s.Stopped {
		return false
	}
	return !now.Before(s.ExpiresAt.Add(grace))
}

// Reconciler runs passes over its backends. Its methods are safe for concurrent use,
// but passes themselves are serialised.
type Reconciler struct {
	cfg      *Config
	backends []workshop.Backend
	log      hclog.Logger
	metrics  *Metrics
	now      func() time.Time
	// mutator returns the context deletes and validations run under, and false when
	// this reconciler must only observe (it does not lead).
	mutator func() (context.Context, bool)

	passMu sync.Mutex // one pass at a time

	mu            sync.Mutex
	templates     map[string]*workshop.Template // by template ID
	lastValidated map[string]time.Time          // backend/session -> last validation run
	lastResults   map[string]map[string]bool    // backend/session -> check -> passed
	prevStats     map[string]*workshop.SessionStats
	lastStorageAt map[string]time.Time                         // backend -> last measure
	lastStorage   map[string]map[string]*workshop.StorageUsage // backend -> session -> usage

	ready readiness
}

// Option changes a Reconciler built by New.
type Option func(*Reconciler)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(r *Reconciler) { r.now = now } }

// New builds a reconciler over already constructed backends.
func New(cfg *Config, backends []workshop.Backend, log hclog.Logger, m *Metrics, opts ...Option) *Reconciler {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	r := &Reconciler{
		cfg: cfg, backends: backends, log: log, metrics: m, now: time.Now,
		templates:     map[string]*workshop.Template{},
		lastValidated: map[string]time.Time{},
		lastResults:   map[string]map[string]bool{},
		prevStats:     map[string]*workshop.SessionStats{},
		lastStorageAt: map[string]time.Time{},
		lastStorage:   map[string]map[string]*workshop.StorageUsage{},
	}
	for _, o := range opts {
		o(r)
	}
	r.metrics.snap.now = r.now
	r.SetLeading(nil) // no election: always allowed to act
	return r
}

// Metrics returns the reconciler's metrics.
func (r *Reconciler) Metrics() *Metrics { return r.metrics }

// SetLeading installs the leadership test: fn returns the context to act under and
// whether this reconciler leads. nil means "always leads" (no election).
func (r *Reconciler) SetLeading(fn func() (context.Context, bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fn == nil {
		fn = func() (context.Context, bool) { return context.Background(), true }
	}
	r.mutator = fn
}

func (r *Reconciler) leading() (context.Context, bool) {
	r.mu.Lock()
	fn := r.mutator
	r.mu.Unlock()
	ctx, ok := fn()
	if ok {
		r.metrics.Leader.Set(1)
	} else {
		r.metrics.Leader.Set(0)
	}
	return ctx, ok
}

// PassResult is what one pass did on one backend.
type PassResult struct {
	Backend string
	// Listed is how many sessions (of the selected templates) were listed.
	Listed int
	// Due are the sessions past expires_at plus grace, and the remnants.
	Due []string
	// Remnants are the due sessions that are remnants of interrupted creates
	// (incomplete, or without their workspace) older than the remnant grace.
	Remnants []string
	// Reaped are the sessions this reconciler deleted and claimed.
	Reaped []string
	// DeletedByOther are due sessions another reconciler (or Terraform) removed first.
	DeletedByOther []string
	// Stopped are the persistent sessions this pass stopped at expiry (kept with their
	// data until their retention ends).
	Stopped []string
	// Validated is how many sessions had their checks run.
	Validated int
	// PoolEntries is how many free warm pool entries were listed (not in Listed's
	// sessions: nobody's session, never sampled nor reaped as expired).
	PoolEntries int
	Errors      []error
	Took        time.Duration
}

// Err joins the pass's errors.
func (p PassResult) Err() error { return errors.Join(p.Errors...) }

// RunOnce runs one pass over every backend, concurrently, and returns a result per
// backend in configuration order.
func (r *Reconciler) RunOnce(ctx context.Context) []PassResult {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	out := make([]PassResult, len(r.backends))
	var wg sync.WaitGroup
	for i, b := range r.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.pass(ctx, b)
		}()
	}
	wg.Wait()
	return out
}

// Run runs a pass at once, then every interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		r.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// selected reports whether the configuration covers a session's template.
func (r *Reconciler) selected(s *workshop.Session) bool {
	if len(r.cfg.Templates) == 0 {
		return true
	}
	for _, n := range r.cfg.Templates {
		if s.TemplateName == n {
			return true
		}
	}
	return false
}

// due reports whether a session is to be deleted at now: expired (plus grace), or a
// remnant of an interrupted create older than the remnant grace.
func (r *Reconciler) due(s *workshop.Session, now time.Time) bool {
	return ReapDue(s, now, r.cfg.Grace) || workshop.RemnantDue(s, now, r.cfg.RemnantGrace)
}

// Reap outcomes; an error's outcome names the failed operation.
const (
	outcomeReaped = "reaped"
	outcomeGone   = "gone"
	outcomeKept   = "kept"
)

// relist lists the backend's sessions by ID.
func (r *Reconciler) relist(ctx context.Context, b workshop.Backend) (map[string]*workshop.Session, error) {
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	list, err := b.ListSessions(lctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*workshop.Session, len(list))
	for _, s := range list {
		out[s.ID] = s
	}
	return out, nil
}

// reap deletes a due session; cur is what a fresh listing says of it (nil: gone).
// The listing, not a per-session read, is the re-check, so the reconciler needs no
// more rights than listing and deleting (no secrets, no quotas).
func (r *Reconciler) reap(ctx, actCtx context.Context, b workshop.Backend, s, cur *workshop.Session, log hclog.Logger) (string, error) {
	fields := []any{"session_id", s.ID, "participant", s.Participant, "template", s.TemplateName,
		"expired_at", s.ExpiresAt.UTC().Format(time.RFC3339)}
	if cur == nil {
		log.Debug("due session is already gone", fields...)
		return outcomeGone, nil
	}
	remnant := !ReapDue(cur, r.now(), r.cfg.Grace)
	if remnant && !workshop.RemnantDue(cur, r.now(), r.cfg.RemnantGrace) {
		log.Info("session was extended or completed; not deleting it", append(fields, "expires_at", cur.ExpiresAt.UTC().Format(time.RFC3339))...)
		return outcomeKept, nil
	}
	// The delete stops when the pass's ctx ends or this reconciler stops leading.
	dctx, cancel := context.WithTimeout(ctx, r.cfg.DeleteTimeout)
	defer cancel()
	stop := context.AfterFunc(actCtx, cancel)
	defer stop()
	what := "expired session"
	if remnant {
		what = "remnant of an interrupted create"
		fields = append(fields, "incomplete", cur.Incomplete, "status", cur.Status)
	}
	if r.cfg.DryRun {
		log.Info("dry run: would delete "+what, fields...)
		return outcomeKept, nil
	}
	start := time.Now()
	claimed := true
	var err error
	if rp, ok := b.(workshop.SessionReaper); ok {
		claimed, err = rp.ReapSession(dctx, s.ID)
	} else {
		err = b.DeleteSession(dctx, s.ID)
	}
	took := time.Since(start)
	if err != nil {
		log.Error("cannot delete "+what, append(fields, "error", err, "took", took)...)
		return "delete", err
	}
	// A remnant often has no workspace, whose removal is what claims a session: count
	// it as reaped (two reconcilers racing on it may both count it).
	if !claimed && !remnant {
		log.Info("expired session was being deleted by another reconciler; made sure it is gone", append(fields, "took", took)...)
		return outcomeGone, nil
	}
	r.metrics.Reaped.WithLabelValues(string(b.Type()), s.TemplateName).Inc()
	if !cur.CreatedAt.IsZero() {
		r.metrics.ReapedLifetime.WithLabelValues(string(b.Type()), s.TemplateName).Observe(r.now().Sub(cur.CreatedAt).Seconds())
	}
	log.Info("reaped "+what, append(fields, "took", took)...)
	return outcomeReaped, nil
}

// sample reads a session's usage when the backend can; it returns no error for a
// backend without figures (or a session gone meanwhile). delta is the CPU rate in
// millicores between this sample and the previous one, when only a counter is known.
func (r *Reconciler) sample(ctx context.Context, b workshop.Backend, s *workshop.Session) (*workshop.SessionStats, *float64, error) {
	sr, ok := b.(workshop.StatsReader)
	if !ok {
		return nil, nil, nil
	}
	sctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	st, err := sr.SessionStats(sctx, s.ID)
	if errors.Is(err, workshop.ErrStatsUnavailable) {
		r.log.Trace("no usage figures", "backend", b.Type(), "session_id", s.ID, "reason", err)
		return nil, nil, nil
	}
	if errors.Is(err, workshop.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	key := string(b.Type()) + "/" + s.ID
	r.mu.Lock()
	prev := r.prevStats[key]
	r.prevStats[key] = st
	r.mu.Unlock()
	var delta *float64
	if prev != nil && st.HasCPUSeconds && prev.HasCPUSeconds && !st.HasCPUMilli {
		if dt := st.At.Sub(prev.At).Seconds(); dt > 0 && st.CPUSeconds >= prev.CPUSeconds {
			v := (st.CPUSeconds - prev.CPUSeconds) / dt * 1000
			delta = &v
		}
	}
	return st, delta, nil
}

// validationDue reports whether a live session's checks should run now.
func (r *Reconciler) validationDue(backend string, s *workshop.Session, now time.Time) bool {
	if r.cfg.ValidateInterval <= 0 || s.Status != workshop.StatusRunning || s.TemplateID == "" {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	last, ok := r.lastValidated[backend+"/"+s.ID]
	return !ok || now.Sub(last) >= r.cfg.ValidateInterval
}

// template returns a stored template, cached by ID (an ID names one content).
func (r *Reconciler) template(ctx context.Context, b workshop.Backend, id string) (*workshop.Template, error) {
	key := string(b.Type()) + "/" + id
	r.mu.Lock()
	t, ok := r.templates[key]
	r.mu.Unlock()
	if ok {
		return t, nil
	}
	tctx, cancel := context.WithTimeout(ctx, templateTimeout)
	defer cancel()
	t, err := b.GetTemplate(tctx, id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.templates[key] = t
	r.mu.Unlock()
	return t, nil
}

// validate runs a session's template checks and records them. It returns nil results
// when the template has none (or is gone).
func (r *Reconciler) validate(ctx context.Context, b workshop.Backend, s *workshop.Session, log hclog.Logger) ([]workshop.ValidationResult, error) {
	backend := string(b.Type())
	key := backend + "/" + s.ID
	r.mu.Lock()
	r.lastValidated[key] = r.now()
	r.mu.Unlock()
	t, err := r.template(ctx, b, s.TemplateID)
	if errors.Is(err, workshop.ErrNotFound) {
		log.Debug("template of a session is gone; not validating it", "session_id", s.ID, "template_id", s.TemplateID)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", s.TemplateID, err)
	}
	if len(t.Validations) == 0 {
		return nil, nil
	}
	results := workshop.RunValidations(ctx, b, s.ID, t.Validations)
	latest := map[string]bool{}
	passed := 0
	var execErrs []error
	for _, v := range results {
		r.metrics.Execs.WithLabelValues(backend, s.TemplateName, execResult(v)).Inc()
		if v.ExecError != nil {
			execErrs = append(execErrs, fmt.Errorf("check %s: %w", v.Name, v.ExecError))
		}
		result := "failed"
		if v.Passed {
			result = "passed"
			passed++
		}
		r.metrics.Validations.WithLabelValues(backend, s.TemplateName, v.Name, result).Inc()
		latest[v.Name] = v.Passed
	}
	r.mu.Lock()
	r.lastResults[key] = latest
	r.mu.Unlock()
	log.Info("validated session", "session_id", s.ID, "participant", s.Participant, "template", s.TemplateName,
		"passed", passed, "failed", len(results)-passed)
	if len(execErrs) > 0 {
		return results, errors.Join(execErrs...)
	}
	return results, nil
}

func execResult(v workshop.ValidationResult) string {
	switch {
	case v.ExecError != nil:
		return "error"
	case v.TimedOut:
		return "timeout"
	case v.ExitCode != 0:
		return "nonzero"
	}
	return "ok"
}

// lastValidation returns a copy of a session's last check results.
func (r *Reconciler) lastValidation(backend, id string) map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	src := r.lastResults[backend+"/"+id]
	if src == nil {
		return nil
	}
	out := make(map[string]bool, len(src))
	for k, v := range src {
		out[k] = v
	}
	return out
}

// forgetGone drops what is remembered about sessions no longer listed.
func (r *Reconciler) forgetGone(backend string, live []*workshop.Session) {
	keep := map[string]bool{}
	for _, s := range live {
		keep[backend+"/"+s.ID] = true
	}
	prefix := backend + "/"
	r.mu.Lock()
	defer r.mu.Unlock()
	prune(r.lastValidated, prefix, keep)
	prune(r.lastResults, prefix, keep)
	prune(r.prevStats, prefix, keep)
}

// prune deletes the keys of m that start with prefix and are not in keep.
func prune[V any](m map[string]V, prefix string, keep map[string]bool) {
	for k := range m {
		if strings.HasPrefix(k, prefix) && !keep[k] {
			delete(m, k)
		}
	}
}
