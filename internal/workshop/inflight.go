package workshop

import (
	"sync"
	"time"
)

// In-flight work the process must not exit in the middle of: a create and the removal
// of what it built when it fails. The provider's main waits for it (bounded) before
// exiting, whether Terraform asked the plugin to stop or died.
var (
	inflightMu sync.Mutex
	inflightN  int
	inflightCh = make(chan struct{})
)

// Hold registers in-flight work; the returned func releases it (call it once).
func Hold() (release func()) {
	inflightMu.Lock()
	inflightN++
	inflightMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			inflightMu.Lock()
			defer inflightMu.Unlock()
			inflightN--
			if inflightN == 0 {
				close(inflightCh)
				inflightCh = make(chan struct{})
			}
		})
	}
}

// WaitIdle waits until no work is held or timeout passes; it reports whether the
// process is idle.
func WaitIdle(timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		inflightMu.Lock()
		n, ch := inflightN, inflightCh
		inflightMu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}
