package reconciler

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// meterStorage measures the sessions' disk use on a backend that can (one daemon-wide
// call, at most every StorageInterval; the last figures are reused in between), marks
// the sessions over their storage budget over_quota (and clears the mark of those back
// under it) and, with StopOverQuota, stops them. Marking and stopping need the lead and
// are skipped in a dry run. It returns the figures by session ID.
func (r *Reconciler) meterStorage(ctx, actCtx context.Context, b workshop.Backend, sessions []*workshop.Session, leads bool,
	log hclog.Logger, fail func(op string, err error)) map[string]*workshop.StorageUsage {
	sm, ok := b.(workshop.StorageMeter)
	if !ok || r.cfg.StorageInterval <= 0 {
		return nil
	}
	name := string(b.Type())
	now := r.now()
	r.mu.Lock()
	last, cached := r.lastStorageAt[name], r.lastStorage[name]
	r.mu.Unlock()
	usage := cached
	if cached == nil || now.Sub(last) >= r.cfg.StorageInterval {
		u, err := sm.StorageUsage(ctx)
		if err != nil {
			fail("storage", err)
			log.Warn("cannot measure sessions' disk use", "error", err)
			return cached
		}
		usage = u
		r.mu.Lock()
		r.lastStorageAt[name], r.lastStorage[name] = now, u
		r.mu.Unlock()
	}
	if !leads || r.cfg.DryRun {
		return usage
	}
	for _, s := range sessions {
		u := usage[s.ID]
		if u == nil {
			continue
		}
		fields := []any{"session_id", s.ID, "participant", s.Participant, "template", s.TemplateName,
			"storage_bytes", u.Bytes, "budget_bytes", u.BudgetBytes, "storage_enforced", u.Enforced}
		over := u.Over()
		if over != u.Marked {
			mctx, cancel := context.WithTimeout(actCtx, statsTimeout)
			err := sm.MarkOverQuota(mctx, s.ID, u, over)
			cancel()
			if err != nil {
				fail("storage", err)
				log.Error("cannot change the over_quota mark", append(fields, "error", err)...)
				continue
			}
			u.Marked = over
			if over {
				r.metrics.OverQuota.WithLabelValues(name, s.TemplateName, "marked").Inc()
				log.Warn("session is over its storage budget; marked over_quota", fields...)
			} else {
				log.Info("session is back under its storage budget; over_quota mark cleared", fields...)
			}
		}
		if over && r.cfg.StopOverQuota && (s.Status == workshop.StatusRunning || s.Status == workshop.StatusUnhealthy ||
			s.Status == workshop.StatusPending || s.Status == workshop.StatusOverQuota) {
			sctx, cancel := context.WithTimeout(actCtx, time.Minute)
			err := sm.StopSession(sctx, s.ID)
			cancel()
			if err != nil {
				fail("storage", err)
				log.Error("cannot stop a session over its storage budget", append(fields, "error", err)...)
				continue
			}
			r.metrics.OverQuota.WithLabelValues(name, s.TemplateName, "stopped").Inc()
			log.Warn("stopped a session over its storage budget (--stop-over-quota)", fields...)
		}
	}
	return usage
}

// storageStatus is the status a sample reports: over_quota for a marked session that is
// neither expired nor degraded.
func storageStatus(status string, u *workshop.StorageUsage) string {
	if u != nil && u.Marked && status != workshop.StatusExpired && status != workshop.StatusDegraded {
		return workshop.StatusOverQuota
	}
	return status
}
