package gateway

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Failed-token rate limit: each client address may send failBurst bad tokens at once,
// then one per failEvery; beyond that every token it sends is refused without being
// looked at (429), good or bad, until its allowance refills.
const (
	failBurst    = 10
	failEvery    = 6 * time.Second
	limiterSweep = 5 * time.Minute
)

type bucket struct {
	tokens float64
	last   time.Time
}

// failLimiter counts failed tokens per client address (in memory, per replica: a
// bound, not an exact count).
type failLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	buckets map[string]*bucket
	swept   time.Time
}

func newFailLimiter(now func() time.Time) *failLimiter {
	return &failLimiter{now: now, buckets: map[string]*bucket{}}
}

func (l *failLimiter) refill(ip string, now time.Time) *bucket {
	b := l.buckets[ip]
	if b == nil {
		b = &bucket{tokens: failBurst, last: now}
		l.buckets[ip] = b
	}
	b.tokens += float64(now.Sub(b.last)) / float64(failEvery)
	if b.tokens > failBurst {
		b.tokens = failBurst
	}
	b.last = now
	return b
}

// Blocked reports whether ip has used up its failures.
func (l *failLimiter) Blocked(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refill(ip, l.now()).tokens < 1
}

// Fail records a failed token from ip.
func (l *failLimiter) Fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.refill(ip, now).tokens--
	if now.Sub(l.swept) > limiterSweep {
		// Forget addresses whose allowance is full again.
		for k, b := range l.buckets {
			if now.Sub(b.last) > failEvery*failBurst {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
}

// clientIP is the request's peer address. Behind a proxy every client shares the
// proxy's address: the limit then applies to all of them together (X-Forwarded-For is
// not trusted, anyone can send it).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
