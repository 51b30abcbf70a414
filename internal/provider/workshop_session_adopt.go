package provider

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/nalabo/terraform-provider-nalabo/internal/workshop"
)

// adoptionRule is the resource's documentation of what a create does with the
// sessions an interrupted apply left (see adoptOrClean).
const adoptionRule = "\n\n**After an interrupted apply** (Terraform killed, a double Ctrl-C) a session may exist on the " +
	"infrastructure without being in the state. A create first looks for sessions labelled with the same `template_id` " +
	"and `participant`: an *incomplete* one (its create never finished) is removed; a *complete* one that no state " +
	"holds (the provider marks a session as claimed whenever it reads it from a state), running, with the same " +
	"resources and a lifetime within a minute of `duration`, is adopted instead of building a second workspace " +
	"(`created_at` and `expires_at` are then the adopted session's). A session being replaced is read (and so claimed) " +
	"by the plan's refresh and is never adopted by its replacement. Two states must therefore not share a template " +
	"(`template_id`) and a participant name on one backend."

// processSessions are the sessions this provider process created or adopted: a create
// never adopts (nor removes) one of them, so two creates of one participant in one
// apply get two sessions, and a session under construction is left alone.
var processSessions = newSessionRegistry()

type sessionRegistry struct {
	mu    sync.Mutex
	ids   map[string]bool
	locks map[string]*sync.Mutex
}

func newSessionRegistry() *sessionRegistry {
	return &sessionRegistry{ids: map[string]bool{}, locks: map[string]*sync.Mutex{}}
}

// lock serialises the adoption decisions of one template ID and participant.
func (r *sessionRegistry) lock(templateID, participant string) func() {
	key := templateID + "\x00" + participant
	r.mu.Lock()
	l := r.locks[key]
	if l == nil {
		l = &sync.Mutex{}
		r.locks[key] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (r *sessionRegistry) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[id] = true
}

func (r *sessionRegistry) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

// adoptOrClean applies the adoption rule before creating spec: it removes the
// incomplete sessions of the same template and participant that this process did not
// create, and returns a complete, unclaimed, matching one to adopt (nil: create). Either
// way the session the caller ends up with (spec.ID or the adopted one) is registered as
// this process's before the lock is released.
func adoptOrClean(ctx context.Context, b backendImpl, spec *workshop.SessionSpec, duration time.Duration) (*workshop.Session, error) {
	unlock := processSessions.lock(spec.Template.ID, spec.Participant)
	defer unlock()
	ad, ok := b.(workshop.SessionAdopter)
	if !ok {
		processSessions.add(spec.ID)
		return nil, nil
	}
	list, err := ad.SessionsOf(ctx, spec.Template.ID, spec.Participant)
	if err != nil {
		return nil, fmt.Errorf("look for sessions an interrupted apply left: %w", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].CreatedAt.Before(list[j].CreatedAt) })
	var adopt *workshop.Session
	for _, s := range list {
		fields := map[string]any{"session_id": s.ID, "participant": s.Participant, "template_id": s.TemplateID,
			"status": s.Status, "incomplete": s.Incomplete, "claimed": s.Claimed}
		switch {
		case processSessions.has(s.ID) || s.Claimed:
			continue
		case s.Incomplete:
			tflog.Info(ctx, "removing a session an interrupted create left", fields)
			if err := b.DeleteSession(ctx, s.ID); err != nil {
				return nil, fmt.Errorf("remove the incomplete session %s an interrupted apply left: %w", s.ID, err)
			}
		case adopt == nil:
			live, err := b.GetSession(ctx, s.ID)
			if err != nil {
				tflog.Debug(ctx, "candidate for adoption not readable; not adopting it", map[string]any{"session_id": s.ID, "error": err.Error()})
				continue
			}
			if workshop.Adoptable(live, spec.Resources, duration) && samePersistence(live.Persistence, spec.Persistence) {
				adopt = live
				continue
			}
			tflog.Info(ctx, "an unclaimed session of the participant does not match the configuration; leaving it to expire", fields)
		}
	}
	if adopt != nil {
		processSessions.add(adopt.ID)
		return adopt, nil
	}
	processSessions.add(spec.ID)
	return nil, nil
}

// claimSession marks a session read from the state as held by it (see adoptionRule).
// A failure only delays the claim to the next read.
func claimSession(ctx context.Context, b backendImpl, s *workshop.Session) {
	ad, ok := b.(workshop.SessionAdopter)
	if !ok || s.Claimed {
		return
	}
	if err := ad.ClaimSession(ctx, s.ID); err != nil {
		tflog.Warn(ctx, "cannot mark the session as held by this state", map[string]any{"session_id": s.ID, "error": err.Error()})
		return
	}
	s.Claimed = true
}

// samePersistence: a session is adopted only with the persistence the configuration asks
// for (a home that outlives it, and its retention).
func samePersistence(a, b *workshop.Persistence) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return workshop.SameQuantity(a.Size, b.Size) && a.RetainDays == b.RetainDays && a.PauseExpiry == b.PauseExpiry
}
