package client

import (
	"testing"
	"time"
)

// TestTokens: a signed-in user makes a personal access token, which works
// as a Client's Token within its scopes only, cannot make tokens, is
// listed without its secret, and stops when revoked.
func TestTokens(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testTokens(t, b.URL) })
	}
}

func testTokens(t *testing.T, base string) {
	c := signIn(t, base)
	ctx := t.Context()
	tok, err := c.CreateToken(ctx, TokenOptions{Name: "backup", Scopes: []string{ScopeFilesRead}, ExpiresIn: 90*time.Minute + time.Millisecond})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if until := time.Until(*tok.ExpiresAt); len(tok.Secret) < 20 || tok.Secret[:10] != "dropp_pat_" || tok.Name != "backup" ||
		len(tok.Scopes) != 1 || tok.Scopes[0] != ScopeFilesRead || tok.LastUsedAt != nil || until < 89*time.Minute || until > 91*time.Minute {
		t.Fatalf("CreateToken(backup, files:read, 90 min) = %+v", tok)
	}
	pat := New(base, tok.Secret)
	me, err := pat.Me(ctx)
	if err != nil || me.User.ID == "" {
		t.Fatalf("Me with the token: %+v, %v", me, err)
	}
	if _, err := pat.List(ctx, ListOptions{}); err != nil {
		t.Fatalf("List with a files:read token: %v", err)
	}
	if err := pat.Delete(ctx, "0123456789abcdef0123456789abcdef"); !IsCode(err, "insufficient_scope") {
		t.Errorf("Delete with a files:read token: %v, want insufficient_scope", err)
	}
	if _, err := pat.CreateToken(ctx, TokenOptions{Name: "more", Scopes: []string{ScopeFilesRead}}); !IsCode(err, "insufficient_scope") {
		t.Errorf("CreateToken with a token: %v, want insufficient_scope", err)
	}
	if _, err := c.CreateToken(ctx, TokenOptions{Name: "x", Scopes: []string{"files:everything"}}); !IsCode(err, "invalid_request") {
		t.Errorf("CreateToken with an unknown scope: %v, want invalid_request", err)
	}
	list, err := c.ListTokens(ctx)
	if err != nil || len(list) != 1 || list[0].ID != tok.ID || list[0].Secret != "" || list[0].LastUsedAt == nil {
		t.Fatalf("ListTokens = %+v, %v; want the token, used, without its secret", list, err)
	}
	if err := c.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := pat.Me(ctx); !IsCode(err, "unauthorized") {
		t.Errorf("Me with a revoked token: %v, want unauthorized", err)
	}
	if err := c.RevokeToken(ctx, tok.ID); !IsCode(err, "not_found") {
		t.Errorf("RevokeToken again: %v, want not_found", err)
	}
}
