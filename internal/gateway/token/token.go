// Package token signs and verifies the gateway's access tokens: stateless HMAC-SHA256
// tokens that open one session until an expiry. The provider signs them (access_url),
// the gateway verifies them; neither keeps any record. Small on purpose: the provider
// imports it without the gateway's HTTP server.
//
// A token is "v1.<key id>.<session id>.<expiry, unix seconds>.<signature>", every part
// URL-safe. The key id (the first 8 hex characters of the key's SHA-256) lets a gateway
// hold several keys during a rotation; it reveals nothing usable about the key.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinKeyLength is the shortest signing key accepted, in bytes: HMAC-SHA256 wants at
// least 256 bits of secret.
const MinKeyLength = 32

const (
	version = "v1"
	// domain separates these signatures from any other use of the same key.
	domain = "nalabo-gateway-token\x00"
)

// Errors of Verify (wrapped; test with errors.Is). Callers should not tell a client
// which one it was.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrUnknownKey   = errors.New("token signed with an unknown key")
	ErrBadSignature = errors.New("bad token signature")
	ErrExpired      = errors.New("token expired")
	ErrWrongSession = errors.New("token is for another session")
)

// Key is a signing key and its id.
type Key struct {
	id     string
	secret []byte
}

// NewKey checks a signing key's length and derives its id.
func NewKey(secret string) (Key, error) {
	if len(secret) < MinKeyLength {
		return Key{}, fmt.Errorf("the signing key must be at least %d bytes long, got %d", MinKeyLength, len(secret))
	}
	sum := sha256.Sum256([]byte(secret))
	return Key{id: hex.EncodeToString(sum[:4]), secret: []byte(secret)}, nil
}

// ID is the key's public identifier.
func (k Key) ID() string { return k.id }

// Sign returns the token for sessionID expiring at exp. It is deterministic: the same
// key, session and expiry always give the same token (plans stay empty).
func (k Key) Sign(sessionID string, exp time.Time) string {
	payload := strings.Join([]string{version, k.id, sessionID, strconv.FormatInt(exp.Unix(), 10)}, ".")
	return payload + "." + k.mac(payload)
}

func (k Key) mac(payload string) string {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(domain))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Claims is what a valid token says.
type Claims struct {
	SessionID string
	Expires   time.Time
	KeyID     string
}

// Parse splits a token without checking its signature (for logs and metrics: never log
// the token itself).
func Parse(tok string) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(tok) > 256 || len(parts) != 5 || parts[0] != version || parts[1] == "" || parts[2] == "" || parts[4] == "" {
		return Claims{}, ErrMalformed
	}
	exp, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || exp <= 0 {
		return Claims{}, ErrMalformed
	}
	return Claims{SessionID: parts[2], Expires: time.Unix(exp, 0).UTC(), KeyID: parts[1]}, nil
}

// Verify checks tok's signature against keys, that it is for sessionID and that it has
// not expired at now. The signature is checked before anything it signs is trusted.
func Verify(keys []Key, tok, sessionID string, now time.Time) (Claims, error) {
	c, err := Parse(tok)
	if err != nil {
		return Claims{}, err
	}
	var key *Key
	for i := range keys {
		if keys[i].id == c.KeyID {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		return Claims{}, ErrUnknownKey
	}
	i := strings.LastIndexByte(tok, '.')
	if !hmac.Equal([]byte(key.mac(tok[:i])), []byte(tok[i+1:])) {
		return Claims{}, ErrBadSignature
	}
	if c.SessionID != sessionID {
		return Claims{}, ErrWrongSession
	}
	if !now.Before(c.Expires) {
		return Claims{}, ErrExpired
	}
	return c, nil
}

// AccessURL is the URL of a session's page on the gateway at base (its public URL):
// <base>/s/<session id>/?token=<token>.
func AccessURL(base string, k Key, sessionID string, exp time.Time) string {
	return strings.TrimRight(base, "/") + "/s/" + sessionID + "/?token=" + k.Sign(sessionID, exp)
}
