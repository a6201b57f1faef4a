package main

// Protected links (issue 21 §3): a link a stranger opens (a share link,
// /s/{token}, or a file request's, /r/{token}) may ask for a password, be
// for members only (users signed in to this Dropp), or both. linkGate is
// the one check such a link's routes make, on the page and on everything
// the page hands out (the download), never on the page alone.
//
// A right password earns a short-lived signed cookie scoped to the link's
// path and naming the link, so it opens that link only. A wrong password,
// an unknown link and a link with no password get the same answer after
// the same work (one hash verified), and failures slow down per link and
// per client address as password sign-in's do (failureDelay). A stranger
// at a members-only link is sent to sign in and brought back to it
// (returnpath.go). Details: docs/api.md, "Protected links".

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// linkPassCookie proves a link's password was given in this browser.
	linkPassCookie = "dropp_link"
	// linkPassTTL is how long a right password opens its link.
	linkPassTTL = 30 * time.Minute
	// freeLinkFailures: wrong passwords a link takes before each next
	// attempt must wait (per client address: freeAddressFailures).
	freeLinkFailures = 5
)

// The answers of a protected link's password form. A wrong password and
// an unknown link get msgWrongLinkPassword alike.
const (
	msgLinkPassword      = "This link is protected by a password. Enter it to open the link."
	msgWrongLinkPassword = "This password does not open this link."
	msgMembersOnly       = "this link is only for members of this Dropp: sign in first"
)

// newLinkGuard shares the accounts' hasher when there is one, so that one
// bound holds on the memory hashes take (maxConcurrentHashes).
func newLinkGuard(si *signIn) *linkGuard {
	hasher := newPasswordHasher(owaspScrypt)
	if si.accounts != nil {
		hasher = si.accounts.hasher
	}
	return &linkGuard{hasher: hasher, links: newFailureDelay(freeLinkFailures), addresses: newFailureDelay(freeAddressFailures)}
}

// protectedLink is what the gate needs to know of a link.
type protectedLink struct {
	ID   string // the record's id, which the password cookie names
	Path string // the link, "/s/{token}" or "/r/{token}": the cookie's scope, the form's target, where sign-in comes back to
	LinkProtection
}

// shareGate is the protectedLink of the request's share link.
func shareGate(r *http.Request, sh Share) protectedLink {
	return protectedLink{ID: sh.ID, Path: "/s/" + r.PathValue("token"), LinkProtection: sh.Protection}
}

// linkGate lets a request to a live link through its protection, or
// answers it and returns false: a stranger at a members-only link is sent
// to sign in (asking for JSON: 401), and a request without the password's
// cookie gets the password form (JSON: 401).
func (s *server) linkGate(w http.ResponseWriter, r *http.Request, link protectedLink) bool {
	return s.gateLink(w, r, link, wantsJSON(r))
}

// linkGateJSON is linkGate for a route that answers only JSON (a file
// request's upload routes): its refusals are JSON whatever Accept says.
func (s *server) linkGateJSON(w http.ResponseWriter, r *http.Request, link protectedLink) bool {
	return s.gateLink(w, r, link, true)
}

// gateLink is linkGate, answering a refusal as JSON if asJSON, else as
// the link's page would.
func (s *server) gateLink(w http.ResponseWriter, r *http.Request, link protectedLink, asJSON bool) bool {
	if link.MembersOnly {
		member, err := s.isMember(r)
		switch {
		case err != nil && asJSON:
			s.fail(w, r, err)
		case err != nil:
			s.shareFail(w, r, err)
		case !member && asJSON:
			writeError(w, http.StatusUnauthorized, codeUnauthorized, msgMembersOnly)
		case !member:
			s.sendToSignIn(w, r, link.Path)
		}
		if err != nil || !member {
			return false
		}
	}
	if link.PasswordHash != "" && !s.hasLinkPass(r, link) {
		if asJSON {
			writeLinkPasswordError(w, link.Path, http.StatusUnauthorized, "")
			return false
		}
		s.askLinkPassword(w, r, link.Path, http.StatusUnauthorized, "")
		return false
	}
	return true
}

// isMember tells whether the request comes from a user of this Dropp: a
// session cookie, a bearer token or a trusted proxy's user, checked as the
// API checks them (a disabled user is no member).
func (s *server) isMember(r *http.Request) (bool, error) {
	_, err := s.authenticate(r)
	if errors.Is(err, errUnauthenticated) {
		return false, nil
	}
	return err == nil, err
}

// sendToSignIn sends a stranger to the sign-in page, which brings them
// back to path once signed in.
func (s *server) sendToSignIn(w http.ResponseWriter, r *http.Request, path string) {
	if wantsJSON(r) {
		writeError(w, http.StatusUnauthorized, codeUnauthorized, msgMembersOnly)
		return
	}
	http.Redirect(w, r, "/login/?"+url.Values{"notice": {"members_only"}, "next": {path}}.Encode(), http.StatusSeeOther)
}

// askLinkPassword answers a request that lacks a link's password: the
// link's page with the password form and the problem, if any, or JSON.
func (s *server) askLinkPassword(w http.ResponseWriter, r *http.Request, path string, status int, problem string) {
	if wantsJSON(r) {
		writeLinkPasswordError(w, path, status, problem)
		return
	}
	s.renderSharePage(w, status, sharePage{Title: "Protected link", Error: problem, Locked: &lockedLinkView{Action: path}})
}

// writeLinkPasswordError is askLinkPassword's JSON answer.
func writeLinkPasswordError(w http.ResponseWriter, path string, status int, problem string) {
	msg := cmp.Or(problem, msgLinkPassword)
	writeError(w, status, linkAnswerCode(status), msg+` (POST {"password": "..."} to `+path+`, then send the cookie it sets)`)
}

// linkAnswerCode is the error code of an answer askLinkPassword gives.
func linkAnswerCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return codeInvalidRequest
	case http.StatusForbidden:
		return codeForbidden
	case http.StatusTooManyRequests:
		return codeRateLimited
	}
	return codeUnauthorized
}

// lockedLinkView is the password form a protected link's page shows.
type lockedLinkView struct {
	Action string // where the form posts: the link itself
}

// handleLinkPassword handles "POST /s/{token}": the password of a
// protected share link, as the page's form or as JSON {"password"}.
func (s *server) handleLinkPassword(w http.ResponseWriter, r *http.Request) {
	s.tryLinkPassword(w, r, "/s/"+r.PathValue("token"), func() (protectedLink, error) {
		sh, err := s.liveShare(r.Context(), r.PathValue("token"))
		return shareGate(r, sh), err
	})
}

// tryLinkPassword handles a POST of a password to the link at path, whose
// protection find reads (ErrNotFound: no such live link, answered as a
// wrong password). A link that asks for no password, or is for members
// only and the request is not a member's, is checked as an unknown link is.
func (s *server) tryLinkPassword(w http.ResponseWriter, r *http.Request, path string, find func() (protectedLink, error)) {
	pw, ok := s.readLinkPassword(w, r, path)
	if !ok {
		return
	}
	link := protectedLink{Path: path}
	found, err := find()
	if err != nil && !errors.Is(err, ErrNotFound) {
		s.shareFail(w, r, err)
		return
	}
	if err == nil {
		link = found
	}
	if link.MembersOnly {
		if member, err := s.isMember(r); err != nil || !member {
			link.PasswordHash = "" // a stranger may not try it
		}
	}
	s.unlockLink(w, r, link, pw)
}

// liveShare is the usable share of a token, read as the password form
// needs it: one store round trip for a known and an unknown token alike.
func (s *server) liveShare(ctx context.Context, token string) (Share, error) {
	if !isLinkToken(token) {
		return Share{}, ErrNotFound
	}
	return s.store.ShareLink(ctx, hashSecret(token), s.now())
}

// readLinkPassword reads the password of a POST to a protected link: from
// our own origin only, a form field or a JSON body. On false the answer
// has been written.
func (s *server) readLinkPassword(w http.ResponseWriter, r *http.Request, path string) (string, bool) {
	if err := s.csrf.Check(r); err != nil {
		s.askLinkPassword(w, r, path, http.StatusForbidden, "This form was sent from another site, so it was refused.")
		return "", false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		var req struct {
			Password string `json:"password"`
		}
		return req.Password, readJSON(w, r, &req, bodyRequired)
	}
	if mt != "application/x-www-form-urlencoded" {
		writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send the password as a form (password=...) or as JSON")
		return "", false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge, "the form is too large")
		return "", false
	}
	v, err := url.ParseQuery(string(body))
	pw, one := singleField(v, "password")
	if err != nil || !one {
		s.askLinkPassword(w, r, path, http.StatusBadRequest, "Fill in the password.")
		return "", false
	}
	return pw, true
}

// unlockLink checks pw against the link's password (a dummy hash when it
// has none, or does not exist) and, if it matches, sets the link's cookie
// and sends the browser back to the link. Every failure, and every link
// that cannot be opened by a password, gets one same answer.
func (s *server) unlockLink(w http.ResponseWriter, r *http.Request, link protectedLink, pw string) {
	// Keyed by the rate limiter's unit, an IPv6 /64 (as password sign-in).
	g, addr, now := s.links, clientNetwork(s.clientAddr(r)).String(), s.now()
	if wait := max(g.links.wait(link.Path, now), g.addresses.wait(addr, now)); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.askLinkPassword(w, r, link.Path, http.StatusTooManyRequests,
			"Too many wrong passwords for this link or from your address. Try again in "+plural(int64(secs), "second")+".")
		return
	}
	g.links.fail(link.Path, now) // counted until it succeeds
	g.addresses.fail(addr, now)
	ok, err := s.linkPasswordMatches(r.Context(), link, pw)
	if err != nil {
		s.shareFail(w, r, err)
		return
	}
	if !ok {
		s.askLinkPassword(w, r, link.Path, http.StatusUnauthorized, msgWrongLinkPassword)
		return
	}
	g.links.forget(link.Path)
	g.addresses.undo(addr)
	s.setLinkPass(w, r, link, now)
	http.Redirect(w, r, link.Path, http.StatusSeeOther)
}

// linkPasswordMatches verifies pw against the link's password hash, or
// against a dummy hash when it has none, so each case costs one hash.
func (s *server) linkPasswordMatches(ctx context.Context, link protectedLink, pw string) (bool, error) {
	return s.links.hasher.verifyOrDummy(ctx, link.PasswordHash, link.PasswordHash != "", pw, func(err error) {
		s.log.Error("stored link password hash unreadable", "link", link.ID, "err", err)
	})
}

// hashLinkPassword checks a new link password against the password rules
// (the accounts' rules, checkNewPassword) and hashes it; the error is a
// message for a 400, or the hasher's.
func (s *server) hashLinkPassword(ctx context.Context, pw string) (string, error) {
	if err := checkNewPassword(pw); err != nil {
		return "", err
	}
	return s.links.hasher.hash(ctx, pw)
}

// ---- The password cookie ----

// linkPassCookieName gets the __Secure- prefix over HTTPS (not __Host-:
// the cookie is scoped to the link's path).
func (s *server) linkPassCookieName(r *http.Request) string {
	if s.isHTTPS(r) {
		return "__Secure-" + linkPassCookie
	}
	return linkPassCookie
}

// linkPassPayload names the link a cookie opens, and its password: a
// cookie of one link never opens another.
func linkPassPayload(link protectedLink) string {
	sum := sha256.Sum256([]byte(link.PasswordHash))
	return link.ID + " " + hex.EncodeToString(sum[:16])
}

// setLinkPass sets the cookie that opens link for linkPassTTL: sent only
// to the link's own path, never readable by script, and SameSite=Strict,
// since only the link's own page (its form, its download) needs it.
func (s *server) setLinkPass(w http.ResponseWriter, r *http.Request, link protectedLink, now time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: s.linkPassCookieName(r), Value: s.signer.sign(linkPassCookie, linkPassPayload(link), now),
		Path: link.Path, MaxAge: int(linkPassTTL.Seconds()),
		HttpOnly: true, Secure: s.isHTTPS(r), SameSite: http.SameSiteStrictMode,
	})
}

// hasLinkPass tells whether the request holds a valid cookie for link.
func (s *server) hasLinkPass(r *http.Request, link protectedLink) bool {
	want := linkPassPayload(link)
	for _, c := range r.CookiesNamed(s.linkPassCookieName(r)) {
		if got, err := s.signer.verify(linkPassCookie, c.Value, linkPassTTL, s.now()); err == nil && got == want {
			return true
		}
	}
	return false
}

// ---- Creating a protected link ----

// linkProtectionRequest is the part of a create request that protects
// the link.
type linkProtectionRequest struct {
	Password    *string `json:"password"`     // absent or null: no password
	MembersOnly bool    `json:"members_only"` // only users signed in to this Dropp
}

// linkProtection reads the request's protection, hashing its password. On
// false the answer (400 for a password the rules refuse) has been written.
func (s *server) linkProtection(w http.ResponseWriter, r *http.Request, req linkProtectionRequest) (LinkProtection, bool) {
	p := LinkProtection{MembersOnly: req.MembersOnly}
	if req.Password == nil {
		return p, true
	}
	phc, err := s.hashLinkPassword(r.Context(), *req.Password)
	if errors.Is(err, errPasswordRules) {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, `"password" refused: `+strings.TrimPrefix(err.Error(), errPasswordRules.Error()+": "))
		return p, false
	}
	if err != nil {
		s.fail(w, r, err)
		return p, false
	}
	p.PasswordHash = phc
	return p, true
}

// linkProtectionJSON is how the API shows a link's protection: whether it
// asks for a password (never the password or its hash) and for members.
type linkProtectionJSON struct {
	Protected   bool `json:"protected"`
	MembersOnly bool `json:"members_only"`
}

// toJSON shows p as the API does.
func (p LinkProtection) toJSON() linkProtectionJSON {
	return linkProtectionJSON{Protected: p.PasswordHash != "", MembersOnly: p.MembersOnly}
}
