package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The contract suite (checkContract) with accounts: issue 20 says that
// everything after sign-in behaves for an invited account exactly as for
// any user, on both stores. These helpers let checkContract run on an
// accounts server, its users invited, signed in with the password form
// and connected through the desktop flow, like people.

// contractPassword is the password of checkContract's accounts.
const contractPassword = "a contract suite password"

// accountsContractEnv starts an accounts server on the metadata store
// ("local": with local objects, "mongodb": with S3) whose administrator is
// boss@example.com, as checkContract's other servers. Its PUBLIC_URL
// names dropp.test, from which links and local upload URLs are built; the
// test's client reaches that name at the server's loopback address.
func accountsContractEnv(t *testing.T, metadata string) *testEnv {
	t.Helper()
	e := newAccountsEnv(t, metadata, map[string]string{"ADMIN_EMAILS": "boss@example.com"})
	addr := strings.TrimPrefix(e.URL, "http://")
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	e.client.Transport = &http.Transport{DialContext: func(ctx context.Context, network, hostPort string) (net.Conn, error) {
		if hostPort == "dropp.test:80" {
			hostPort = addr
		}
		return dialer.DialContext(ctx, network, hostPort)
	}}
	return e.testEnv
}

// contractUser is a user of checkContract with a bearer token: on an
// accounts server, name@example.com invited, with its password chosen on
// the invitation page and its token from the desktop flow through the
// password form; elsewhere a user as sign-in makes one (newUser).
func contractUser(e *testEnv, name string) string {
	e.t.Helper()
	if !e.srv.cfg.accountsSignIn() {
		return e.newUser(name)
	}
	se := &signInEnv{testEnv: e}
	se.newAccount(name+"@example.com", contractPassword, false)
	return se.passwordToken(name+"@example.com", contractPassword).AccessToken
}

// contractAppRedirect follows a desktop app's sign-in from /auth/google's
// answer to the redirect to the app: at once with local sign-in; through
// the password form, as user@example.com, with accounts.
func contractAppRedirect(c *contractChecker, start *http.Response, app url.Values) *url.URL {
	c.t.Helper()
	if c.e.srv.cfg.accountsSignIn() {
		form := url.Values{"email": {"user@example.com"}, "password": {contractPassword}}
		for k, v := range app {
			form[k] = v
		}
		start, _ = c.call("/auth/password", c.req("POST", "/auth/password", "", form))
	}
	loc, err := url.Parse(start.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		c.t.Fatalf("desktop sign-in: %d to %q, want the app's redirect URI with a code", start.StatusCode, start.Header.Get("Location"))
	}
	return loc
}
