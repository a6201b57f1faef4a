package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
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

// writeUnauthenticated answers 401 for why authenticate refused: what to
// do next, and, as RFC 6750 §3 asks of a resource server, a
// WWW-Authenticate challenge (invalid_token when a token or session was
// sent but does not hold).
func writeUnauthenticated(w http.ResponseWriter, err error) {
	msg, challenge := "sign in first: send Authorization: Bearer <token>", "Bearer"
	switch {
	case errors.Is(err, errNoLongerAllowed):
		msg = msgNoLongerAllowed
	case errors.Is(err, errDisabled):
		msg = "this account has been disabled by an administrator of this server"
	case errors.Is(err, errStaleCredential):
		msg = "the token or session has expired or was revoked: sign in again"
		challenge = `Bearer error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, codeUnauthorized, msg)
}

// requireUser authenticates the request (bearer token, session cookie, or
// a trusted proxy's X-User-Id, in that order) and answers 401 otherwise.
// State changes authenticated by an ambient credential (a cookie, or a
// proxy that signs users in with its own cookie) must come from our origin.
// No personal access token may use the route (403): see requireScope.
func (s *server) requireUser(h userHandler) http.Handler {
	return s.requireScope(scopeNone, h)
}

// requireScope is requireUser for a route a personal access token may use
// if it holds scope (auth.go); every other credential has full scope.
func (s *server) requireScope(scope string, h userHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := s.authenticate(r)
		if err != nil {
			if !errors.Is(err, errUnauthenticated) {
				s.fail(w, r, err)
				return
			}
			writeUnauthenticated(w, err)
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
