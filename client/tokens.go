package client

import (
	"context"
	"net/url"
	"time"
)

// PersonalToken is a personal access token: a credential for a script or
// a pipeline, limited to its scopes, which a signed-in user makes. Use its
// Secret as a Client's Token (or DROPP_TOKEN).
type PersonalToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`     // nil: never used; written at most once a minute
	ExpiresAt  *time.Time `json:"expires_at"`       // nil: never expires
	Secret     string     `json:"secret,omitempty"` // dropp_pat_...: in CreateToken's answer only
}

// The scopes a personal access token may hold.
const (
	ScopeFilesRead     = "files:read"     // list, download, /me
	ScopeFilesWrite    = "files:write"    // upload, complete, delete
	ScopeSharesWrite   = "shares:write"   // share links
	ScopeRequestsWrite = "requests:write" // file requests
)

// TokenOptions shape a new token.
type TokenOptions struct {
	Name   string   // required
	Scopes []string // at least one
	// ExpiresIn is the token's lifetime in whole seconds (rounded up), at
	// most the server's PAT_MAX_TTL_SECONDS; 0: that maximum.
	ExpiresIn time.Duration
	// Never asks for a token that never expires, where the server allows
	// it (PAT_ALLOW_NO_EXPIRY); ExpiresIn is then ignored.
	Never bool
}

// CreateToken makes a personal access token; its Secret is in the answer
// and nowhere else, ever. A personal access token cannot make one.
func (c *Client) CreateToken(ctx context.Context, opt TokenOptions) (*PersonalToken, error) {
	body := map[string]any{"name": opt.Name, "scopes": opt.Scopes}
	switch {
	case opt.Never:
		body["expires_in"] = "never"
	case opt.ExpiresIn > 0:
		body["expires_in"] = int64((opt.ExpiresIn + time.Second - 1) / time.Second)
	}
	var out struct {
		Token PersonalToken `json:"token"`
	}
	if err := c.do(ctx, "POST", "/tokens", body, &out); err != nil {
		return nil, err
	}
	return &out.Token, nil
}

// ListTokens returns the user's live personal access tokens, oldest
// first, without their secrets.
func (c *Client) ListTokens(ctx context.Context) ([]PersonalToken, error) {
	var out struct {
		Tokens []PersonalToken `json:"tokens"`
	}
	if err := c.do(ctx, "GET", "/tokens", nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// RevokeToken ends one of the user's personal access tokens at once.
func (c *Client) RevokeToken(ctx context.Context, tokenID string) error {
	return c.do(ctx, "DELETE", "/tokens/"+url.PathEscape(tokenID), nil, nil)
}
