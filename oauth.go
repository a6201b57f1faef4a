package main

import (
	"log/slog"
	"net/http"
)

// signIn holds the state of the sign-in flows (placeholder until issue 3).
type signIn struct{}

func newSignIn(cfg *config, logger *slog.Logger) *signIn { return &signIn{} }

// addSignInRoutes registers the sign-in routes.
func (s *server) addSignInRoutes(mux *http.ServeMux) {}
