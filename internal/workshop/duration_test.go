package workshop

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "2d": 48 * time.Hour, "1d12h": 36 * time.Hour, " 4h ": 4 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	// A day count that does not fit (it used to be read as 0 days, or to overflow).
	for in, want := range map[string]string{
		"99999999999999999999d": "is not a duration", "200000d": "is not a duration", "0d": "greater than zero", "soon": "is not a duration",
	} {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDuration(%q) = %v, want an error with %q", in, err, want)
		}
	}
}
