package workshop

import "sync"

// DefaultMaxOutputBytes bounds stdout and stderr of an exec each.
const DefaultMaxOutputBytes = 64 * 1024

// BoundedBuffer is an io.Writer that keeps the first Max bytes and records whether more
// arrived. It never returns an error, so the command it drains never blocks.
type BoundedBuffer struct {
	Max       int
	mu        sync.Mutex
	buf       []byte
	truncated bool
}

// NewBoundedBuffer returns a buffer that keeps at most limit bytes (0: the default).
func NewBoundedBuffer(limit int) *BoundedBuffer {
	if limit <= 0 {
		limit = DefaultMaxOutputBytes
	}
	return &BoundedBuffer{Max: limit}
}

func (b *BoundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.Max - len(b.buf)
	if room >= len(p) {
		b.buf = append(b.buf, p...)
	} else {
		if room > 0 {
			b.buf = append(b.buf, p[:room]...)
		}
		b.truncated = true
	}
	return len(p), nil
}

// String returns what was kept.
func (b *BoundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Truncated reports whether output was dropped.
func (b *BoundedBuffer) Truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.truncated
}
