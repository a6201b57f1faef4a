package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// logRequests writes one line per request: method, route pattern (never the
// raw URL, which may carry signatures), status, duration, user and request
// id. It also sets the headers every response carries.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		l := &loggedRequest{Context: r.Context(), info: requestInfo{id: newRequestID()}}
		l.rec.ResponseWriter = w
		l.idHeader[0] = l.info.id
		h := w.Header() // keys in canonical form, as Header.Set would write them
		h["X-Request-Id"] = l.idHeader[:]
		h["X-Content-Type-Options"] = headerNosniff
		r = r.WithContext(l)
		next.ServeHTTP(&l.rec, r)
		route, took := routeOf(r), time.Since(start)
		s.metrics.observeRequest(route, l.rec.status, took)
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", l.rec.status),
			slog.Duration("duration", took),
			slog.String("user", l.info.who.userID),
			slog.String("request_id", l.info.id),
		)
	})
}

// routeOf is the matched route pattern, or a placeholder for unmatched
// paths (which may be arbitrary client text).
func routeOf(r *http.Request) string {
	if r.Pattern == "" || r.Pattern == "/" {
		return "unmatched"
	}
	return r.Pattern
}

// newRequestID returns 64 random bits in hex, enough to pick one request's
// lines out of the log.
func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recoverPanics turns a handler panic into a logged stack and a JSON 500.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil || v == http.ErrAbortHandler {
				if v != nil {
					panic(v)
				}
				return
			}
			s.log.Error("panic", "value", v, "stack", string(debug.Stack()), "request_id", requestInfoFrom(r.Context()).id)
			writeError(w, http.StatusInternalServerError, codeInternal, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// loopbackHostOnly refuses, with local sign-in, every request whose Host
// is not a loopback name or address. Whoever reaches local sign-in is the
// local user, and a web page whose DNS name is rebound to 127.0.0.1 reaches
// this port with that name as Host: refusing it keeps such pages away from
// the signed-in server, and the Host baseURL builds URLs from a loopback one.
func (s *server) loopbackHostOnly(next http.Handler) http.Handler {
	if !s.cfg.localSignIn() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLocalHost(r.Host) {
			writeError(w, http.StatusBadRequest, codeInvalidRequest,
				"this server uses local sign-in and answers only at a loopback address, such as http://127.0.0.1 or http://localhost")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// apiHeaders marks JSON API answers as never to be cached: they are per
// user and may carry short-lived URLs.
func apiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Cache-Control"] = headerNoStore
		next.ServeHTTP(w, r)
	})
}

// userHandler is the shape of every handler that acts for a signed-in user.
type userHandler func(w http.ResponseWriter, r *http.Request, userID string)

// adminHandler is the shape of the handlers of the admin API: they get the
// acting administrator.
type adminHandler func(w http.ResponseWriter, r *http.Request, admin User)

// requireUser authenticates the request (bearer token, session cookie, or
// a trusted proxy's X-User-Id, in that order) and answers 401 otherwise.
// State changes authenticated by an ambient credential (a cookie, or a
// proxy that signs users in with its own cookie) must come from our origin.
// No personal access token may use the route (403): see requireScope.
func (s *server) requireUser(h userHandler) http.Handler {
	return s.requireScope(scopeNone, h)
}

// requireScope is requireUser for a route a personal access token may use
// if it holds scope (tokens.go); every other credential has full scope.
func (s *server) requireScope(scope string, h userHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := s.authenticate(r)
		if err != nil {
			if !errors.Is(err, errUnauthenticated) {
				s.fail(w, r, err)
				return
			}
			msg := "sign in first: send Authorization: Bearer <token>"
			switch {
			case errors.Is(err, errNoLongerAllowed):
				msg = "this account is no longer allowed to use this server; ask its administrator"
			case errors.Is(err, errDisabled):
				msg = "this account has been disabled by an administrator of this server"
			}
			writeError(w, http.StatusUnauthorized, codeUnauthorized, msg)
			return
		}
		requestInfoFrom(r.Context()).who = who
		if !who.holds(scope) {
			refuseScope(w, scope)
			return
		}
		if who.kind != kindBearer && who.kind != kindPAT {
			if err := s.csrf.Check(r); err != nil {
				writeError(w, http.StatusForbidden, codeForbidden, "cross-origin request refused")
				return
			}
		}
		s.touch(r.Context(), who.userID)
		h(w, r, who.userID)
	})
}

// errUnauthenticated: no valid credential was presented.
var errUnauthenticated = errors.New("unauthenticated")

// errNoLongerAllowed: the credential is valid, but its user is no longer
// on the allow-lists, so it is not honoured (a 401, like any credential
// that does not hold; it is kept, and works again if the user is let back).
var errNoLongerAllowed = fmt.Errorf("%w: account no longer allowed", errUnauthenticated)

// errDisabled: the credential holds, or a trusted proxy names the user,
// but an administrator disabled that user (a 401, like errNoLongerAllowed).
var errDisabled = fmt.Errorf("%w: account disabled", errUnauthenticated)

// kindProxy marks a user named by a trusted proxy's X-User-Id.
const kindProxy = "proxy"

// principal is who a request acts for, and by which credential.
type principal struct {
	userID string
	kind   string // kindBearer, kindPAT, kindSession or kindProxy
	hash   string // the stored hash of the bearer token or session; "" for kindProxy
	scope  string // a personal access token's scopes, space-separated; "" for the other kinds
}

// authenticate finds who a request acts for. A presented but invalid
// credential never falls through to a weaker one.
func (s *server) authenticate(r *http.Request) (principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !validSecret(token) {
			return principal{}, errUnauthenticated
		}
		return s.findPrincipal(r.Context(), bearerKind(token), token)
	}
	if _, err := r.Cookie(s.sessionCookieName(r)); err == nil {
		secret, ok := s.sessionSecret(r)
		if !ok {
			return principal{}, errUnauthenticated
		}
		return s.findPrincipal(r.Context(), kindSession, secret)
	}
	// With TRUSTED_PROXIES set, only those proxies may name the user.
	if s.cfg.TrustXUserID && (len(s.cfg.TrustedProxies) == 0 || s.fromTrustedProxy(r)) {
		if id := r.Header.Get("X-User-Id"); validProxyUserID(id) {
			if err := s.checkEnabled(r.Context(), id); err != nil {
				return principal{}, err
			}
			return principal{userID: id, kind: kindProxy}, nil
		}
	}
	return principal{}, errUnauthenticated
}

// findPrincipal looks a bearer token or session secret up by its hash; the
// server-side record is what makes a revoked credential stay dead.
func (s *server) findPrincipal(ctx context.Context, kind, secret string) (principal, error) {
	hash := hashSecret(secret)
	c, err := s.store.FindCredential(ctx, kind, hash, s.now())
	if errors.Is(err, ErrNotFound) {
		return principal{}, errUnauthenticated
	}
	if err != nil {
		return principal{}, err
	}
	if c.UserDisabled {
		return principal{}, errDisabled
	}
	if err := s.checkMember(ctx, c.UserID); err != nil {
		return principal{}, err
	}
	if kind == kindPAT {
		s.touchToken(ctx, c)
	}
	return principal{userID: c.UserID, kind: kind, hash: hash, scope: c.Scope}, nil
}

// checkEnabled refuses a user an administrator disabled, on every path in
// and at every request, read from the store (no cache), so a disable holds
// at once on every instance. Disabling deletes the user's tokens and
// sessions too, but a proxy's X-User-Id is no credential Dropp can delete.
// A credential's lookup reads the flag with it (Credential.UserDisabled:
// one round trip, and a credential stored after the disable is refused
// too), so only a proxy's user is checked here. A user with no record (a
// proxy's user who never signed in here) is not disabled.
func (s *server) checkEnabled(ctx context.Context, userID string) error {
	disabled, err := s.refuseDisabled(ctx, userID)
	if err == nil && disabled {
		return errDisabled
	}
	return err
}

// checkMember applies the allow-lists to a credential's user at every use,
// not only at sign-in, from the user's stored email and groups (cached
// briefly: no round trip per request). A user named by a trusted proxy's
// X-User-Id is not checked: that proxy signs its users in and answers for
// them.
func (s *server) checkMember(ctx context.Context, userID string) error {
	if s.cfg.localSignIn() || !membershipLimited(s.cfg) {
		return nil
	}
	m, err := s.signIn.members.get(ctx, s.store, userID, s.now())
	switch {
	case errors.Is(err, ErrNotFound):
		return errNoLongerAllowed
	case err != nil:
		return err
	case !memberAllowed(s.cfg, m):
		return errNoLongerAllowed
	}
	return nil
}

// validProxyUserID bounds what a trusted proxy may name a user: 1 to 256
// printable ASCII characters, no spaces.
func validProxyUserID(id string) bool {
	return id != "" && len(id) <= 256 && allBytes(id, func(c byte) bool { return ' ' < c && c < 0x7f })
}

// jsonMuxErrors makes the mux's own answers, 404 for an unknown route and
// 405 (with Allow) for a known route with another method, use the API's
// error shape instead of plain text.
func jsonMuxErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&muxErrorWriter{ResponseWriter: w, r: r}, r)
	})
}

// muxErrorWriter replaces a plain-text 404 or 405 written while no route
// matched (r.Pattern is set by the mux before any handler runs).
type muxErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (m *muxErrorWriter) WriteHeader(code int) {
	if m.r.Pattern != "" || (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) {
		m.ResponseWriter.WriteHeader(code)
		return
	}
	m.replaced = true
	m.Header().Set("Cache-Control", "no-store")
	if code == http.StatusMethodNotAllowed {
		writeError(m.ResponseWriter, code, codeMethodNotAllowed, "this route does not take "+m.r.Method+"; allowed: "+m.Header().Get("Allow"))
		return
	}
	writeError(m.ResponseWriter, code, codeNotFound, "no such route")
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if m.replaced {
		return len(b), nil // the mux's plain-text body
	}
	return m.ResponseWriter.Write(b)
}

func (m *muxErrorWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// refuseDisabled tells whether the user is disabled, so a sign-in or a
// code redemption must stop. A user without a record is not disabled.
func (s *server) refuseDisabled(ctx context.Context, userID string) (bool, error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return u.Disabled, err
}

// msgDisabled is what a disabled user is told at sign-in.
const msgDisabled = "This account has been disabled by an administrator of this server."

// touchInterval bounds how often a user's last_seen_at is written: at
// most once per this interval per user and instance.
const touchInterval = 5 * time.Minute

// touch records that userID made a request at now, writing it to the store
// if the last write is older than touchInterval. Failures only log.
func (s *server) touch(ctx context.Context, userID string) {
	now := s.now()
	s.seen.mu.Lock()
	last, ok := s.seen.m[userID]
	due := !ok || now.Sub(last) >= touchInterval
	if due {
		if s.seen.m == nil || len(s.seen.m) >= memberCacheMax {
			s.seen.m = map[string]time.Time{}
		}
		s.seen.m[userID] = now
	}
	s.seen.mu.Unlock()
	if !due {
		return
	}
	if err := s.store.TouchUser(ctx, userID, now); err != nil && !errors.Is(err, ErrNotFound) {
		s.log.Warn("recording last_seen_at", "user", userID, "err", err)
	}
}
