package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCookieSigner: a value verifies only unchanged, under the name it was
// signed for, within the max age, and with a key the signer still holds.
func TestCookieSigner(t *testing.T) {
	t.Parallel()
	key, prev := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	now := time.Unix(1_800_000_000, 0)
	s := newCookieSigner(key)
	good := s.sign("dropp_session", "payload-1", now)
	parts := strings.Split(good, ".")
	cases := []struct {
		name, cookie, value string
		at                  time.Time
		ok                  bool
	}{
		{"as signed", "dropp_session", good, now, true},
		{"at max age", "dropp_session", good, now.Add(time.Hour), true},
		{"past max age", "dropp_session", good, now.Add(time.Hour + time.Second), false},
		{"from the future", "dropp_session", good, now.Add(-2 * time.Minute), false},
		{"other name", "dropp_oauth_state", good, now, false},
		{"flipped MAC bit", "dropp_session", parts[0] + "." + parts[1] + "." + flipBit(parts[2], 5), now, false},
		{"flipped payload bit", "dropp_session", flipBit(parts[0], 2) + "." + parts[1] + "." + parts[2], now, false},
		{"changed time", "dropp_session", parts[0] + "." + strconv.FormatInt(now.Unix()-10, 10) + "." + parts[2], now, false},
		{"truncated MAC", "dropp_session", parts[0] + "." + parts[1] + "." + parts[2][:20], now, false},
		{"empty MAC", "dropp_session", parts[0] + "." + parts[1] + ".", now, false},
		{"missing MAC", "dropp_session", parts[0] + "." + parts[1], now, false},
		{"extra part", "dropp_session", good + ".x", now, false},
		{"empty", "dropp_session", "", now, false},
		{"signed by another key", "dropp_session", newCookieSigner(prev).sign("dropp_session", "payload-1", now), now, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.verify(c.cookie, c.value, time.Hour, c.at)
			if ok := err == nil && got == "payload-1"; ok != c.ok {
				t.Errorf("verify = %q, %v; want ok=%v", got, err, c.ok)
			}
		})
	}
}

// flipBit flips the lowest bit of the base64url character at i, choosing
// a character whose bit carries data (not the padding bits of the last one).
func flipBit(s string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := []byte(s)
	b[i] = alphabet[strings.IndexByte(alphabet, b[i])^1]
	return string(b)
}

// TestCookieSignerRotation: during a rotation cookies of the previous key
// verify and new ones are signed with the current key only.
func TestCookieSignerRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	now := time.Unix(1_800_000_000, 0)
	before := newCookieSigner(oldKey)
	during := newCookieSigner(newKey, oldKey)
	after := newCookieSigner(newKey)
	old := before.sign("c", "v", now)
	if _, err := during.verify("c", old, time.Hour, now); err != nil {
		t.Errorf("old-key cookie during rotation: %v", err)
	}
	if _, err := after.verify("c", old, time.Hour, now); err == nil {
		t.Error("old-key cookie accepted after the previous key was dropped")
	}
	fresh := during.sign("c", "v", now)
	if _, err := after.verify("c", fresh, time.Hour, now); err != nil {
		t.Errorf("cookie signed during rotation does not verify with the new key: %v", err)
	}
	if _, err := before.verify("c", fresh, time.Hour, now); err == nil {
		t.Error("cookie signed during rotation verifies with the old key")
	}
	if _, err := newCookieSigner(newKey, nil).verify("c", old, time.Hour, now); err == nil {
		t.Error("an empty previous key verified something")
	}
}
