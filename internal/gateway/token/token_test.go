package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	secretA = "0123456789abcdef0123456789abcdef-key-a"
	secretB = "0123456789abcdef0123456789abcdef-key-b"
)

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := NewKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerify(t *testing.T) {
	a, b := mustKey(t, secretA), mustKey(t, secretB)
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour)
	tok := a.Sign("0123456789", exp)

	// Positive control: a fresh token for its own session verifies.
	c, err := Verify([]Key{a}, tok, "0123456789", now)
	if err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	if c.SessionID != "0123456789" || !c.Expires.Equal(exp) || c.KeyID != a.ID() {
		t.Fatalf("claims = %+v", c)
	}
	// A rotation: the gateway holds both keys.
	if _, err := Verify([]Key{b, a}, tok, "0123456789", now); err != nil {
		t.Fatalf("valid token refused with two keys: %v", err)
	}

	tamper := func(s string, i int) string {
		r := []byte(s)
		if r[i] == 'A' {
			r[i] = 'B'
		} else {
			r[i] = 'A'
		}
		return string(r)
	}
	later := strings.Replace(tok, ".1800003600.", ".1900003600.", 1)
	other := strings.Replace(tok, ".0123456789.", ".abcdefabcd.", 1)
	for _, tc := range []struct {
		name, tok, session string
		keys               []Key
		at                 time.Time
		want               error
	}{
		{"tampered signature", tamper(tok, len(tok)-3), "0123456789", []Key{a}, now, ErrBadSignature},
		{"extended expiry", later, "0123456789", []Key{a}, now, ErrBadSignature},
		{"session swapped in the token", other, "abcdefabcd", []Key{a}, now, ErrBadSignature},
		{"expired", tok, "0123456789", []Key{a}, exp, ErrExpired},
		{"long expired", tok, "0123456789", []Key{a}, exp.Add(time.Hour), ErrExpired},
		{"another session", tok, "abcdefabcd", []Key{a}, now, ErrWrongSession},
		{"wrong key", tok, "0123456789", []Key{b}, now, ErrUnknownKey},
		{"forged key id", strings.Replace(tok, a.ID(), b.ID(), 1), "0123456789", []Key{b}, now, ErrBadSignature},
		{"empty", "", "0123456789", []Key{a}, now, ErrMalformed},
		{"garbage", "v1.x.y", "0123456789", []Key{a}, now, ErrMalformed},
		{"no keys", tok, "0123456789", nil, now, ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verify(tc.keys, tc.tok, tc.session, tc.at); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignDeterministicAndURLSafe(t *testing.T) {
	a := mustKey(t, secretA)
	exp := time.Unix(1_800_000_000, 0)
	t1, t2 := a.Sign("0123456789", exp), a.Sign("0123456789", exp)
	if t1 != t2 {
		t.Fatalf("same inputs, different tokens: %s %s", t1, t2)
	}
	if t3 := a.Sign("0123456789", exp.Add(time.Second)); t3 == t1 {
		t.Fatal("another expiry gave the same token")
	}
	for _, r := range t1 {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			t.Fatalf("token %q has a character that is not URL-safe: %q", t1, r)
		}
	}
	if strings.Contains(t1, secretA) {
		t.Fatal("token contains the key")
	}
	u := AccessURL("https://gw.example.com/", a, "0123456789", exp)
	if !strings.HasPrefix(u, "https://gw.example.com/s/0123456789/?token=v1.") {
		t.Fatalf("access URL = %s", u)
	}
}

func TestNewKeyTooShort(t *testing.T) {
	if _, err := NewKey("short"); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Fatalf("err = %v", err)
	}
}
