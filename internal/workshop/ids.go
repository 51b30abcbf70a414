package workshop

import (
	"crypto/rand"
	"encoding/hex"
)

// NewSessionID returns a fresh 10-character lower-case hex session ID (40 random bits).
func NewSessionID() string {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}
