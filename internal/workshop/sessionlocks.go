package workshop

import "sync"

// SessionLocks serialises a backend's changes per session ID within this process. The
// zero value is ready to use.
type SessionLocks struct {
	m sync.Map // session ID -> *sync.Mutex
}

// Lock takes the session's lock; the caller runs the returned unlock.
func (l *SessionLocks) Lock(id string) (unlock func()) {
	v, _ := l.m.LoadOrStore(id, new(sync.Mutex))
	mu, _ := v.(*sync.Mutex) // the map holds nothing else
	mu.Lock()
	return mu.Unlock
}

// Forget drops the session's lock (the session is gone).
func (l *SessionLocks) Forget(id string) { l.m.Delete(id) }
