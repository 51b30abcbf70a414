package reconciler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// passRun is one backend's pass in progress: what its steps share.
type passRun struct {
	r      *Reconciler
	b      workshop.Backend
	name   string
	log    hclog.Logger
	now    time.Time       // the clock reading the pass decides by
	actCtx context.Context // deletes and validations run under it
	leads  bool

	mu  sync.Mutex // guards res while steps run in parallel
	res PassResult
}

// pass is one backend's pass: ping, list, reap what is due, sample and validate the
// rest, publish the snapshot.
func (r *Reconciler) pass(ctx context.Context, b workshop.Backend) PassResult {
	name := string(b.Type())
	p := &passRun{r: r, b: b, name: name, log: r.log.With("backend", name)}
	p.res.Backend = name
	start := time.Now()
	p.run(ctx)
	p.finish(start)
	return p.res
}

func (p *passRun) run(ctx context.Context) {
	if !p.ping(ctx) {
		return
	}
	sessions, ok := p.listSelected(ctx)
	if !ok {
		return
	}
	p.r.metrics.pool.observe(p.name, sessions)
	sessions, entries := splitPool(sessions)
	p.now = p.r.now()
	p.actCtx, p.leads = p.r.leading()
	keep, due := p.partition(sessions)
	keep = append(keep, p.reapDue(ctx, due)...)
	p.reapLeftovers()
	p.stopExpired(ctx, keep)
	// Storage: measure, mark over_quota, stop (--stop-over-quota).
	usage := p.r.meterStorage(ctx, p.actCtx, p.b, keep, p.leads, p.log, p.fail)
	samples := p.sampleAndValidate(ctx, keep, usage)
	p.r.forgetGone(p.name, keep)
	p.r.metrics.snap.setSessions(p.name, samples)
	p.res.PoolEntries = len(entries)
	p.pools(ctx)
}

// fail counts and records a failed operation; safe from parallel steps.
func (p *passRun) fail(op string, err error) {
	p.r.metrics.Errors.WithLabelValues(p.name, op).Inc()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Errors = append(p.res.Errors, fmt.Errorf("%s: %s: %w", p.name, op, err))
}

// finish times the pass and counts it as ok or failed.
func (p *passRun) finish(start time.Time) {
	res := &p.res
	res.Took = time.Since(start)
	p.r.metrics.Duration.WithLabelValues(p.name).Observe(res.Took.Seconds())
	if len(res.Errors) == 0 {
		p.r.metrics.Passes.WithLabelValues(p.name, "ok").Inc()
		p.r.metrics.LastSuccess.WithLabelValues(p.name).Set(float64(p.r.now().Unix()))
	} else {
		p.r.metrics.Passes.WithLabelValues(p.name, "error").Inc()
	}
	p.log.Debug("pass done", "listed", res.Listed, "due", len(res.Due), "reaped", len(res.Reaped),
		"validated", res.Validated, "errors", len(res.Errors), "took", res.Took)
}

// ping records readiness and the capacity gauges; false when the backend does not answer.
func (p *passRun) ping(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	info, err := p.b.Ping(pctx)
	cancel()
	p.r.ready.record(p.name, info, err, time.Now())
	p.r.metrics.snap.setBackend(p.name, backendSample{Up: err == nil, Info: info})
	if err != nil {
		p.fail("ping", err)
		p.log.Error("backend does not answer", "error", err)
		return false
	}
	return true
}

// listSelected lists the sessions of the configured templates.
func (p *passRun) listSelected(ctx context.Context) ([]*workshop.Session, bool) {
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	all, err := p.b.ListSessions(lctx)
	cancel()
	if err != nil {
		p.fail("list", err)
		p.log.Error("cannot list sessions", "error", err)
		return nil, false
	}
	var sessions []*workshop.Session
	for _, s := range all {
		if p.r.selected(s) {
			sessions = append(sessions, s)
		}
	}
	p.res.Listed = len(sessions)
	return sessions, true
}

// partition splits sessions into those to keep and those due; a reconciler that does
// not lead keeps them all.
func (p *passRun) partition(sessions []*workshop.Session) (keep, due []*workshop.Session) {
	for _, s := range sessions {
		if !p.r.due(s, p.now) {
			keep = append(keep, s)
			continue
		}
		due = append(due, s)
		p.res.Due = append(p.res.Due, s.ID)
		if !ReapDue(s, p.now, p.r.cfg.Grace) {
			p.res.Remnants = append(p.res.Remnants, s.ID)
		}
	}
	if len(due) > 0 && !p.leads {
		p.log.Debug("sessions are due but this reconciler does not lead; leaving them to the leader", "due", len(due))
		return append(keep, due...), nil
	}
	return keep, due
}

// reapLeftovers removes what killed processes left outside sessions (the Kubernetes
// backend's pre-pull DaemonSets, see workshop.LeftoverReaper), when this reconciler
// leads and does not only log.
func (p *passRun) reapLeftovers() {
	lr, ok := p.b.(workshop.LeftoverReaper)
	if !ok || !p.leads || p.r.cfg.DryRun {
		return
	}
	n, err := lr.ReapLeftovers(p.actCtx)
	if n > 0 {
		p.r.metrics.Leftovers.WithLabelValues(p.name).Add(float64(n))
		p.log.Info("removed leftovers of killed processes", "count", n)
	}
	if err != nil {
		p.fail("leftovers", err)
	}
}

// reapDue deletes the due sessions in parallel and returns those still there (extended
// meanwhile, dry run, failed delete). They are listed again first: one may have been
// extended or removed meanwhile (by Terraform, or another reconciler).
func (p *passRun) reapDue(ctx context.Context, due []*workshop.Session) []*workshop.Session {
	if len(due) == 0 {
		return nil
	}
	fresh, err := p.r.relist(ctx, p.b)
	if err != nil {
		p.fail("list", err)
		p.log.Error("cannot list sessions again before deleting", "error", err)
		return due
	}
	var kept []*workshop.Session
	g := new(errgroup.Group)
	g.SetLimit(p.r.cfg.Parallelism)
	for _, s := range due {
		g.Go(func() error {
			outcome, err := p.r.reap(ctx, p.actCtx, p.b, s, fresh[s.ID], p.log)
			if err != nil {
				p.fail(outcome, err)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			switch {
			case err != nil:
				kept = append(kept, s)
			case outcome == outcomeReaped:
				p.res.Reaped = append(p.res.Reaped, s.ID)
			case outcome == outcomeGone:
				p.res.DeletedByOther = append(p.res.DeletedByOther, s.ID)
			default: // kept: extended (as listed now), dry run
				if c := fresh[s.ID]; c != nil {
					s = c
				}
				kept = append(kept, s)
			}
			return nil
		})
	}
	_ = g.Wait()
	return kept
}

// sampleAndValidate reads each kept session's usage and, when this reconciler leads,
// runs the checks that are due; it returns the snapshot's samples.
func (p *passRun) sampleAndValidate(ctx context.Context, keep []*workshop.Session, usage map[string]*workshop.StorageUsage) []sessionSample {
	samples := make([]sessionSample, len(keep))
	g := new(errgroup.Group)
	g.SetLimit(p.r.cfg.Parallelism)
	validated := 0
	for i, s := range keep {
		samples[i] = sessionSample{Backend: p.name, ID: s.ID, Participant: s.Participant, Template: s.TemplateName,
			Status: storageStatus(s.Status, usage[s.ID]), CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Storage: usage[s.ID]}
		g.Go(func() error {
			st, delta, err := p.r.sample(ctx, p.b, s)
			if err != nil {
				p.fail("stats", err)
				p.log.Warn("cannot read session usage", "session_id", s.ID, "error", err)
			}
			samples[i].Stats, samples[i].CPUMilliFromDelta = st, delta
			if p.leads && p.r.validationDue(p.name, s, p.now) {
				results, verr := p.r.validate(p.actCtx, p.b, s, p.log)
				if verr != nil {
					p.fail("validate", verr)
				} else if results != nil {
					p.mu.Lock()
					validated++
					p.mu.Unlock()
				}
			}
			samples[i].Validation = p.r.lastValidation(p.name, s.ID)
			return nil
		})
	}
	_ = g.Wait()
	p.res.Validated = validated
	return samples
}

// stopExpired stops the expired persistent sessions that still run (StopDue): their
// data stays until ReapDue deletes them after their retention. Only the leader acts; a
// dry run logs.
func (p *passRun) stopExpired(ctx context.Context, keep []*workshop.Session) {
	pauser, ok := p.b.(workshop.SessionPauser)
	if !ok || !p.leads {
		return
	}
	g := new(errgroup.Group)
	g.SetLimit(p.r.cfg.Parallelism)
	for _, s := range keep {
		if !StopDue(s, p.now, p.r.cfg.Grace) {
			continue
		}
		fields := []any{"session_id", s.ID, "participant", s.Participant, "template", s.TemplateName,
			"expired_at", s.ExpiresAt.UTC().Format(time.RFC3339),
			"delete_at", workshop.DeleteAt(s).UTC().Format(time.RFC3339)}
		if p.r.cfg.DryRun {
			p.log.Info("dry run: would stop expired persistent session", fields...)
			continue
		}
		g.Go(func() error {
			sctx, cancel := context.WithTimeout(ctx, p.r.cfg.DeleteTimeout)
			defer cancel()
			stop := context.AfterFunc(p.actCtx, cancel)
			defer stop()
			if err := pauser.StopSession(sctx, s.ID); err != nil {
				p.fail("stop", err)
				p.log.Error("cannot stop expired persistent session", append(fields, "error", err)...)
				return nil
			}
			s.Stopped = true
			p.r.metrics.StoppedAtExpiry.WithLabelValues(p.name, s.TemplateName).Inc()
			p.log.Info("stopped expired persistent session; its data is kept until the retention ends", fields...)
			p.mu.Lock()
			p.res.Stopped = append(p.res.Stopped, s.ID)
			p.mu.Unlock()
			return nil
		})
	}
	_ = g.Wait()
}
