package hubsim

import (
	"crypto/rand"
	"sync"
	"time"
)

// coapTokenLen is the length of an auth token (the hub's are 10 capital
// letters, e.g. "YWAIGGUGUC").
const coapTokenLen = 10

// coapTokens holds the auth tokens the CoAP endpoint issued. A token names
// the device it was issued to and expires on the hub clock. Tokens are
// secrets: never log them.
type coapTokens struct {
	mu sync.Mutex
	by map[string]coapToken
}

type coapToken struct {
	dev     DeviceRef
	expires time.Time
}

func newCoAPTokens() *coapTokens { return &coapTokens{by: map[string]coapToken{}} }

// issue returns a fresh token for dev valid until now+ttl, and drops the
// expired ones.
func (t *coapTokens) issue(dev DeviceRef, now time.Time, ttl time.Duration) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.by {
		if !now.Before(v.expires) {
			delete(t.by, k)
		}
	}
	for {
		b := make([]byte, 0, coapTokenLen)
		var r [16]byte
		for len(b) < coapTokenLen {
			_, _ = rand.Read(r[:]) // never fails (crypto/rand)
			for _, c := range r {
				// 234 = 9*26: rejecting the rest keeps letters uniform.
				if c < 234 && len(b) < coapTokenLen {
					b = append(b, letters[c%26])
				}
			}
		}
		tok := string(b)
		if _, taken := t.by[tok]; !taken {
			t.by[tok] = coapToken{dev: dev, expires: now.Add(ttl)}
			return tok
		}
	}
}

// check returns the device a token was issued to, if it is known and has
// not expired at now.
func (t *coapTokens) check(tok string, now time.Time) (DeviceRef, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.by[tok]
	if !ok || !now.Before(v.expires) {
		return DeviceRef{}, false
	}
	return v.dev, true
}

// expire removes dev's tokens and returns how many there were.
func (t *coapTokens) expire(dev DeviceRef) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, v := range t.by {
		if v.dev == dev {
			delete(t.by, k)
			n++
		}
	}
	return n
}

// live reports whether dev holds a token valid at now.
func (t *coapTokens) live(dev DeviceRef, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range t.by {
		if v.dev == dev && now.Before(v.expires) {
			return true
		}
	}
	return false
}
