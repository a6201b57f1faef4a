package main

import (
	"strings"
	"testing"
)

// TestSignInLineWarnsOfClearText: a server whose people sign in over plain
// HTTP from beyond this machine says so at start (review 16: a team server
// on http://dropp.lan sent passwords in clear without a word); a trial on
// localhost and an HTTPS PUBLIC_URL do not.
func TestSignInLineWarnsOfClearText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  []string
		warn bool
	}{
		{[]string{"SIGNIN", "accounts", "PUBLIC_URL", "http://dropp.lan:8080"}, true},
		{[]string{"SIGNIN", "accounts", "PUBLIC_URL", "http://192.0.2.7"}, true},
		{[]string{"GOOGLE_CLIENT_ID", "id", "GOOGLE_CLIENT_SECRET", "s", "PUBLIC_URL", "http://dropp.lan"}, true},
		{[]string{"SIGNIN", "accounts", "PUBLIC_URL", "https://dropp.example.com"}, false},
		{[]string{"SIGNIN", "accounts", "PUBLIC_URL", "http://localhost:8080", "ADDR", "127.0.0.1:8080"}, false},
		{[]string{"SIGNIN", "accounts", "PUBLIC_URL", "http://[::1]:8080", "ADDR", "127.0.0.1:8080"}, false},
		{nil, false}, // local sign-in: loopback only
	}
	for _, c := range cases {
		cfg, err := loadConfig(configGetenv(c.env...))
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		line := signInLine(cfg)
		if got := strings.Contains(line, "WARNING: PUBLIC_URL is plain http"); got != c.warn {
			t.Errorf("%v: %q, want a clear-text warning: %v", c.env, line, c.warn)
		}
	}
}
