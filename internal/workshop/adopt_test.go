package workshop

import (
	"testing"
	"time"
)

func TestAdoptable(t *testing.T) {
	created := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	base := func() *Session {
		return &Session{Status: StatusRunning, CreatedAt: created.Add(2 * time.Second), ExpiresAt: created.Add(4 * time.Hour),
			Resources: Resources{CPU: "500m", Memory: "256Mi", Storage: "1Gi"}}
	}
	res := Resources{CPU: "0.5", Memory: "256Mi", Storage: "1Gi"}
	if !Adoptable(base(), res, 4*time.Hour) {
		t.Fatal("a complete, unclaimed, running, matching session must be adoptable")
	}
	for name, mut := range map[string]func(*Session){
		"incomplete":                    func(s *Session) { s.Incomplete = true },
		"claimed":                       func(s *Session) { s.Claimed = true },
		"degraded":                      func(s *Session) { s.Status = StatusDegraded },
		"expired":                       func(s *Session) { s.Status = StatusExpired },
		"cpu":                           func(s *Session) { s.Resources.CPU = "1" },
		"memory":                        func(s *Session) { s.Resources.Memory = "512Mi" },
		"storage":                       func(s *Session) { s.Resources.Storage = "2Gi" },
		"enforced storage not reported": func(s *Session) { s.Resources.Storage, s.StorageEnforced = "", true },
		"lifetime":                      func(s *Session) { s.ExpiresAt = created.Add(2 * time.Hour) },
		"no created":                    func(s *Session) { s.CreatedAt = time.Time{} },
	} {
		s := base()
		mut(s)
		if Adoptable(s, res, 4*time.Hour) {
			t.Errorf("%s: adoptable", name)
		}
	}
	// A backend that caps no storage (Swarm) reports none: the storage asked for
	// cannot differ.
	s := base()
	s.Resources.Storage = ""
	if !Adoptable(s, res, 4*time.Hour) {
		t.Error("a session of a backend that reports no storage is not adoptable")
	}
}

func TestRemnantDue(t *testing.T) {
	now := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	old, young := now.Add(-31*time.Minute), now.Add(-time.Minute)
	cases := []struct {
		s    Session
		want bool
	}{
		{Session{Status: StatusRunning, CreatedAt: old}, false},
		{Session{Status: StatusRunning, Incomplete: true, CreatedAt: old}, true},
		{Session{Status: StatusRunning, Incomplete: true, CreatedAt: young}, false},
		{Session{Status: StatusDegraded, CreatedAt: old}, true},
		{Session{Status: StatusDegraded, CreatedAt: young}, false},
		{Session{Status: StatusDegraded}, true},
	}
	for i, c := range cases {
		if got := RemnantDue(&c.s, now, 30*time.Minute); got != c.want {
			t.Errorf("case %d %+v: %v, want %v", i, c.s, got, c.want)
		}
	}
}
