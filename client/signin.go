package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Token is the answer of a sign-in.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"` // seconds
	User        User   `json:"user"`
}

// SignInTimeout is how long SignIn waits for the browser by default: a
// malformed request ends on an error page in the browser, and the
// listener would never hear back.
const SignInTimeout = 5 * time.Minute

// SignIn signs in as a desktop app does (RFC 8252): it listens on a
// loopback port, opens the sign-in page with open (OpenBrowser if nil)
// with a PKCE S256 challenge and a random state, waits for the browser to
// come back with a code and the same state (at most timeout;
// SignInTimeout if 0), and redeems the code. It returns a client acting
// with the new token.
func SignIn(ctx context.Context, baseURL string, open func(url string) error, timeout time.Duration) (*Client, *Token, error) {
	if open == nil {
		open = OpenBrowser
	}
	if timeout <= 0 {
		timeout = SignInTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	redirect := "http://" + ln.Addr().String() + "/callback"
	verifier, state := randomString(), randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"state":                 {state},
		"redirect_uri":          {redirect},
	}
	c := New(baseURL, "")
	codes := make(chan callbackResult, 1)
	srv := &http.Server{Handler: callbackHandler(state, codes), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	if err := open(c.BaseURL + "/auth/google?" + q.Encode()); err != nil {
		return nil, nil, fmt.Errorf("open the browser: %w", err)
	}
	var res callbackResult
	select {
	case res = <-codes:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("sign-in: no answer from the browser: %w", ctx.Err())
	}
	if res.err != nil {
		return nil, nil, res.err
	}
	tok, err := c.redeem(ctx, res.code, verifier, redirect)
	if err != nil {
		return nil, nil, err
	}
	c.Token = tok.AccessToken
	return c, tok, nil
}

type callbackResult struct {
	code string
	err  error
}

// callbackHandler takes the browser's return: the first request whose
// state is ours ends the wait; others are refused and ignored, so a
// stray request cannot end a sign-in.
func callbackHandler(state string, out chan<- callbackResult) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/callback" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
			http.Error(w, "This is not the sign-in this app started.", http.StatusBadRequest)
			return
		}
		res := callbackResult{code: q.Get("code")}
		switch {
		case q.Get("error") != "":
			res.err = &Error{Status: http.StatusForbidden, Code: q.Get("error"), Message: "sign-in was cancelled or refused"}
		case res.code == "":
			res.err = errors.New("sign-in: the browser came back without a code")
		}
		select {
		case out <- res:
			fmt.Fprintln(w, "Signed in to Dropp. You can close this tab.")
		default:
			http.Error(w, "This sign-in is already done.", http.StatusConflict)
		}
	})
}

// redeem exchanges a code for a token at /auth/token.
func (c *Client) redeem(ctx context.Context, code, verifier, redirect string) (*Token, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
	req, err := http.NewRequestWithContext(ctx, "POST", c.BaseURL+"/auth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.api().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readError(resp)
	}
	var tok Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

// randomString is 32 random bytes, base64url: a PKCE verifier or a state.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// OpenBrowser opens u in the system browser.
func OpenBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	return cmd.Start()
}
