package main

// Coming back after sign-in: a page that needs a signed-in browser (a
// members-only link, linkprotect.go) sends it to /login/?next=PATH. The
// sign-in page keeps PATH in a short-lived signed cookie sent only to
// /auth/, where every browser sign-in ends (local, the provider's
// callback, the password form), and finishSignIn sends the browser there
// instead of to the web page. Only a plain path on this server is kept:
// never another site, a scheme, "//host", a backslash or an escape that
// a browser could read as one (RFC 9700 §4.11.1).

import (
	"net/http"
	"strings"
)

const (
	// returnCookie holds where a browser sign-in ends.
	returnCookie = "dropp_return"
	// maxReturnPath bounds the path kept.
	maxReturnPath = 512
)

// safeReturnPath accepts only a path on this server made of unreserved
// characters and "/": "/s/Ab-_9". Anything else, any "%" escape included,
// is refused rather than cleaned up.
func safeReturnPath(p string) bool {
	return len(p) >= 2 && len(p) <= maxReturnPath && p[0] == '/' && p[1] != '/' &&
		!strings.Contains(p, "//") && allBytes(p, alnumOr("-._~/"))
}

// returnCookieName gets the __Secure- prefix over HTTPS (not __Host-: the
// cookie is scoped to /auth/).
func (s *server) returnCookieName(r *http.Request) string {
	if s.isHTTPS(r) {
		return "__Secure-" + returnCookie
	}
	return returnCookie
}

// rememberReturnPath keeps the sign-in page's ?next= for finishSignIn, if
// it is a safe path; an unsafe one is ignored (the sign-in then ends on
// the web page, as without one).
func (s *server) rememberReturnPath(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !safeReturnPath(next) {
		return
	}
	value := s.signer.sign(returnCookie, next, s.now())
	s.setCookie(w, r, s.returnCookieName(r), value, "/auth/", int(authStateTTL.Seconds()))
}

// takeReturnPath is where a browser sign-in ends: the remembered path, if
// its cookie holds and it is still safe, else the web page. The cookie is
// cleared either way: it is used once.
func (s *server) takeReturnPath(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(s.returnCookieName(r))
	if err != nil {
		return "/"
	}
	s.setCookie(w, r, s.returnCookieName(r), "", "/auth/", -1)
	next, err := s.signer.verify(returnCookie, c.Value, authStateTTL, s.now())
	if err != nil || !safeReturnPath(next) {
		return "/"
	}
	return next
}
