package main

// Passwords of accounts (accounts.go): hashed with scrypt at OWASP's
// current parameters (N=2^17, r=8, p=1; argon2id would need
// golang.org/x/sys, a module the binary does not link), stored as a PHC
// string that carries the algorithm, its parameters and the salt, so the
// parameters can be raised later and old hashes still verify.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/scrypt"
)

// Password rules: a length, counted in characters (runes), and no
// composition rules (NIST SP 800-63B §3.1.1.2).
const (
	minPasswordRunes = 12
	maxPasswordRunes = 256
)

// scryptParams are the cost parameters of one hash: N = 2^logN.
type scryptParams struct {
	logN, r, p int
}

// owaspScrypt is OWASP Password Storage Cheat Sheet's scrypt setting: 128
// MiB and a few hundred milliseconds per hash.
var owaspScrypt = scryptParams{logN: 17, r: 8, p: 1}

// Bounds on what a stored hash may ask for, so a damaged record cannot
// make a sign-in allocate gigabytes.
const (
	maxScryptLogN    = 20 // 1 GiB with r=8
	maxScryptR       = 32
	maxScryptP       = 16
	passwordSaltLen  = 16
	passwordKeyLen   = 32
	maxScryptMemory  = 1 << 30
	scryptMemoryUnit = 128 // bytes per N per r
)

// maxConcurrentHashes bounds how many hashes run at once: each holds 128
// MiB at owaspScrypt, so a burst of sign-ins waits instead of exhausting
// memory.
const maxConcurrentHashes = 2

// passwordHasher hashes and verifies passwords: new hashes with params, at
// most maxConcurrentHashes at a time.
type passwordHasher struct {
	params scryptParams
	slots  chan struct{}
	// work is the scrypt work done so far (N·r·p of each key), which
	// tests compare between answers that must cost alike: their wall
	// times vary with a shared machine's load.
	work atomic.Int64
	// dummy is verified against when there is no account (or no password)
	// to check, so an unknown email costs the time of a wrong password.
	dummy func() string
}

// newPasswordHasher makes a hasher for new hashes at params (owaspScrypt,
// but for tests: the race detector makes such a hash take seconds).
func newPasswordHasher(params scryptParams) *passwordHasher {
	h := &passwordHasher{params: params, slots: make(chan struct{}, maxConcurrentHashes)}
	h.dummy = sync.OnceValue(func() string {
		phc, err := h.hash(context.Background(), newSecret(16))
		if err != nil {
			panic(err) // a background context never ends
		}
		return phc
	})
	return h
}

// errPasswordRules: a new password breaks a rule; the message says which.
var errPasswordRules = errors.New("password refused")

// checkNewPassword applies the rules to a password being set: its length
// in characters and the common-password list. It says what is wrong in
// words a person can act on.
func checkNewPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: it is not valid text", errPasswordRules)
	case n < minPasswordRunes:
		return fmt.Errorf("%w: use at least %d characters (a few unrelated words make a good one)", errPasswordRules, minPasswordRunes)
	case n > maxPasswordRunes:
		return fmt.Errorf("%w: use at most %d characters", errPasswordRules, maxPasswordRunes)
	case isCommonPassword(pw):
		return fmt.Errorf("%w: it is one of the most common passwords; choose another", errPasswordRules)
	}
	return nil
}

// hash returns the PHC string of pw under h.params with a fresh salt.
func (h *passwordHasher) hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, passwordSaltLen)
	rand.Read(salt)
	p := h.params
	key, err := h.key(ctx, pw, salt, p, passwordKeyLen)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$scrypt$ln=%d,r=%d,p=%d$%s$%s", p.logN, p.r, p.p, b64(salt), b64(key)), nil
}

// verify tells whether pw matches the PHC string, comparing in constant
// time. A hash it cannot read matches nothing; the error says why, for
// the log.
func (h *passwordHasher) verify(ctx context.Context, phc, pw string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got, err := h.key(ctx, pw, salt, p, len(want))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// verifyOrDummy verifies pw against the stored PHC string, or against the
// dummy hash when there is none to use (usable false), so that either case
// costs one hash and a caller's answer takes the same time. A stored hash
// it cannot read matches nothing and goes to unreadable, for the log; any
// other error (the request ended while waiting for a slot) is returned.
func (h *passwordHasher) verifyOrDummy(ctx context.Context, phc string, usable bool, pw string, unreadable func(error)) (bool, error) {
	if !usable {
		phc = h.dummy()
	}
	ok, err := h.verify(ctx, phc, pw)
	if err != nil && usable {
		unreadable(err)
		return false, nil
	}
	return ok && usable, err
}

// key runs scrypt in one of the slots, or gives up when ctx ends while
// waiting for one.
func (h *passwordHasher) key(ctx context.Context, pw string, salt []byte, p scryptParams, keyLen int) ([]byte, error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-h.slots }()
	h.work.Add(int64(1<<p.logN) * int64(p.r) * int64(p.p))
	return scrypt.Key([]byte(pw), salt, 1<<p.logN, p.r, p.p, keyLen)
}

// parsePHC reads "$scrypt$ln=L,r=R,p=P$salt$hash" within its bounds.
func parsePHC(phc string) (scryptParams, []byte, []byte, error) {
	var p scryptParams
	parts := strings.Split(phc, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "scrypt" {
		return p, nil, nil, errors.New("password hash: not a scrypt PHC string")
	}
	if _, err := fmt.Sscanf(parts[2], "ln=%d,r=%d,p=%d", &p.logN, &p.r, &p.p); err != nil ||
		fmt.Sprintf("ln=%d,r=%d,p=%d", p.logN, p.r, p.p) != parts[2] ||
		p.logN < 1 || p.logN > maxScryptLogN || p.r < 1 || p.r > maxScryptR || p.p < 1 || p.p > maxScryptP ||
		scryptMemoryUnit*p.r<<p.logN > maxScryptMemory {
		return p, nil, nil, errors.New("password hash: parameters out of bounds")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[3])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("password hash: bad salt or hash")
	}
	return p, salt, key, nil
}

// commonPasswordsText is the list of the 10,000 most common passwords, with
// its source and licence in its first lines.
//
//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is the list as a set of lowercased entries.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 10000)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			set[strings.ToLower(line)] = struct{}{}
		}
	}
	return set
})

// isCommonPassword tells whether pw, ignoring case, is on the list.
func isCommonPassword(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(pw)]
	return ok
}
