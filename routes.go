package main

import (
	"log/slog"
	"net/http"
	"time"
)

// newServer wires the routes and middleware around the given backends.
func newServer(cfg *config, logger *slog.Logger, store Store, objects ObjectStore) *server {
	s := &server{
		cfg:     cfg,
		log:     logger,
		store:   store,
		objects: objects,
		signer:  newCookieSigner(cfg.SecretKey, cfg.SecretKeyPrevious),
		csrf:    http.NewCrossOriginProtection(),
		now:     func() time.Time { return time.Now().UTC() },

		publicURL: publicBaseURL(cfg),
		metrics:   newMetrics(cfg),
	}
	s.signIn = newSignIn(cfg, logger)
	s.shares = newShareLinks(cfg)
	s.links = newLinkGuard(s.signIn)
	s.requests = newRequestLinks(cfg, objectsOrigin(objects))
	s.adminView = newAdminPageView()
	s.page = newAppPage(objectsOrigin(objects))
	s.webhooks = newWebhookSender(cfg, s.metrics)
	s.handler = s.logRequests(s.recoverPanics(s.loopbackHostOnly(s.routes())))
	return s
}

// routes is the one table of every route, its pattern and its middleware.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /openapi.json", handleOpenAPI)

	// The web page (page.go), built on the API below.
	mux.HandleFunc("GET /{$}", s.handleApp)
	mux.HandleFunc("GET /app.js", s.handleAppAsset)
	mux.HandleFunc("GET /uploader.js", s.handleAppAsset) // shared with the request page, which inlines it
	mux.HandleFunc("GET /app.css", s.handleAppAsset)

	// api marks a route for signed-in users that no personal access token
	// may use (403); scoped, one a token holding that scope may use too
	// (auth.go). A new route is api until it is given a scope.
	api := func(h userHandler) http.Handler { return apiHeaders(s.requireUser(h)) }
	scoped := func(scope string, h userHandler) http.Handler { return apiHeaders(s.requireScope(scope, h)) }
	mux.Handle("POST /upload", scoped(scopeFilesWrite, s.handleCreateUpload))
	mux.Handle("POST /upload/{$}", scoped(scopeFilesWrite, s.handleCreateUpload))
	mux.Handle("POST /upload/{id}/complete", scoped(scopeFilesWrite, s.handleCompleteUpload))
	mux.Handle("POST /upload/{id}/parts", scoped(scopeFilesWrite, s.handlePartURLs)) // see multipart.go
	mux.Handle("GET /upload/{id}/parts", scoped(scopeFilesWrite, s.handleListParts))
	mux.Handle("GET /list", scoped(scopeFilesRead, s.handleList))
	mux.Handle("GET /list/{$}", scoped(scopeFilesRead, s.handleList))
	mux.Handle("GET /download/{id}", scoped(scopeFilesRead, s.handleDownload))
	mux.Handle("DELETE /files/{id}", scoped(scopeFilesWrite, s.handleDelete))
	mux.Handle("GET /me", scoped(scopeFilesRead, s.handleMe))

	// Personal access tokens (tokens.go): managed only by a signed-in
	// user, never by a token.
	mux.Handle("POST /tokens", api(s.handleCreateToken))
	mux.Handle("GET /tokens", api(s.handleListTokens))
	mux.Handle("DELETE /tokens/{id}", api(s.handleRevokeToken))

	// Administration (admin.go): 401 signed out, 403 for non-admins.
	admin := func(h adminHandler) http.Handler { return api(s.requireAdmin(h)) }
	mux.Handle("GET /admin/users", admin(s.handleAdminUsers))
	mux.Handle("POST /admin/users/{id}/disable", admin(s.handleAdminDisable))
	mux.Handle("POST /admin/users/{id}/enable", admin(s.handleAdminEnable))
	mux.Handle("POST /admin/users/{id}/reinvite", admin(s.handleAdminReinvite)) // accounts.go
	mux.Handle("POST /admin/invitations", admin(s.handleAdminInvite))
	mux.Handle("GET /admin/users/{id}/tokens", admin(s.handleAdminUserTokens)) // tokens.go
	mux.Handle("DELETE /admin/users/{id}/tokens/{token}", admin(s.handleAdminRevokeToken))

	// Webhooks (webhooks.go): a user's endpoints, and the server-wide
	// ones administrators register, which receive every user's events.
	mux.Handle("POST /webhooks", api(s.handleCreateWebhook))
	mux.Handle("GET /webhooks", api(s.handleListWebhooks))
	mux.Handle("DELETE /webhooks/{id}", api(s.handleDeleteWebhook))
	mux.Handle("POST /webhooks/{id}/test", api(s.handleTestWebhook))
	mux.Handle("GET /webhooks/{id}/deliveries", api(s.handleWebhookDeliveries))
	mux.Handle("POST /webhooks/{id}/rotate", api(s.handleRotateWebhook))
	mux.Handle("POST /admin/webhooks", admin(serverWide(s.handleCreateWebhook)))
	mux.Handle("GET /admin/webhooks", admin(serverWide(s.handleListWebhooks)))
	mux.Handle("DELETE /admin/webhooks/{id}", admin(serverWide(s.handleDeleteWebhook)))
	mux.Handle("POST /admin/webhooks/{id}/test", admin(serverWide(s.handleTestWebhook)))
	mux.Handle("GET /admin/webhooks/{id}/deliveries", admin(serverWide(s.handleWebhookDeliveries)))
	mux.Handle("POST /admin/webhooks/{id}/rotate", admin(serverWide(s.handleRotateWebhook)))
	mux.Handle("GET /admin/{$}", s.signInHeaders(http.HandlerFunc(s.handleAdminPage)))

	// Sign-in (oauth.go, token.go): pages and the token endpoint, never
	// cached, with the sign-in CSP; the two that cost a provider round trip
	// or a code guess are rate limited per client address.
	si := s.signIn
	mux.Handle("GET /login/{$}", s.signInHeaders(http.HandlerFunc(s.handleLogin)))
	mux.Handle("GET /auth/google", s.signInHeaders(s.rateLimited(si.startLimit, s.pageTooMany, http.HandlerFunc(s.handleSignInStart))))
	mux.Handle("GET /auth/google/callback", s.signInHeaders(http.HandlerFunc(s.handleSignInCallback)))
	mux.Handle("POST /auth/token", s.signInHeaders(s.rateLimited(si.tokenLimit, jsonTooMany, http.HandlerFunc(s.handleToken))))
	mux.Handle("POST /auth/logout", s.signInHeaders(s.signedOutAlready(s.requireUser(s.handleLogout))))
	// Accounts (accounts.go): the password form and invitation pages,
	// limited per client address (and per account, in the handler).
	if pa := si.accounts; s.cfg.accountsSignIn() {
		limited := func(h http.HandlerFunc) http.Handler {
			return s.signInHeaders(s.rateLimited(pa.addrLimit, s.pageTooMany, h))
		}
		mux.Handle("POST /auth/password", limited(s.handlePasswordSignIn))
		mux.Handle("GET /invite/{token}", limited(s.handleInvitePage))
		mux.Handle("POST /invite/{token}", limited(s.handleInviteSubmit))
	}
	// Passkeys (webauthn.go): with accounts, under the same per-address limit.
	if pa := si.accounts; s.cfg.accountsSignIn() {
		page := func(h http.Handler) http.Handler {
			return s.signInHeaders(s.rateLimited(pa.addrLimit, s.pageTooMany, h))
		}
		json := func(h http.Handler) http.Handler { return s.signInHeaders(s.rateLimited(pa.addrLimit, jsonTooMany, h)) }
		mux.Handle("POST /auth/passkey/options", json(http.HandlerFunc(s.handlePasskeySignInOptions)))
		mux.Handle("POST /auth/passkey", page(http.HandlerFunc(s.handlePasskeySignIn)))
		mux.Handle("POST /invite/{token}/passkey/options", json(http.HandlerFunc(s.handleInvitePasskeyOptions)))
		mux.Handle("POST /invite/{token}/passkey", page(http.HandlerFunc(s.handleInvitePasskey)))
	}
	// A signed-in account adds a passkey (webauthn.go): no token may.
	mux.Handle("POST /auth/passkey/register/options", s.signInHeaders(s.requireUser(s.handleAddPasskeyOptions)))
	mux.Handle("POST /auth/passkey/register", s.signInHeaders(s.requireUser(s.handleAddPasskey)))

	// Share links (shares.go): the owner's API, then the public link page
	// and download, which take no credential, are rate limited per client
	// address and never cached.
	mux.Handle("POST /files/{id}/shares", scoped(scopeSharesWrite, s.handleCreateShare))
	mux.Handle("GET /files/{id}/shares", scoped(scopeSharesWrite, s.handleListShares))
	mux.Handle("DELETE /shares/{id}", scoped(scopeSharesWrite, s.handleRevokeShare))
	link := func(h http.HandlerFunc) http.Handler {
		return s.shareHeaders(s.rateLimited(s.shares.limit, s.shareTooMany, h))
	}
	mux.Handle("GET /s/{token}", link(s.handleSharePage))
	mux.Handle("GET /s/{token}/download", link(s.handleShareDownload))
	mux.Handle("POST /s/{token}/download", link(s.handleShareDownload))
	// Drops and previews (drops.go, previews.go): links to several files,
	// their edits, each file's download, and inline previews.
	mux.Handle("POST /shares", scoped(scopeSharesWrite, s.handleCreateDrop))
	mux.Handle("GET /shares", scoped(scopeSharesWrite, s.handleListAllShares))
	mux.Handle("POST /shares/{id}/files", scoped(scopeSharesWrite, s.handleAddDropFiles))
	mux.Handle("DELETE /shares/{id}/files/{file_id}", scoped(scopeSharesWrite, s.handleRemoveDropFile))
	mux.Handle("GET /files/{id}/preview", scoped(scopeFilesRead, s.handleFilePreview))
	mux.Handle("GET /s/{token}/files/{file_id}/download", link(s.handleShareDownload))
	mux.Handle("POST /s/{token}/files/{file_id}/download", link(s.handleShareDownload))
	mux.Handle("GET /s/{token}/files/{file_id}/preview", link(s.handleSharePreview))
	// A protected link's password form (linkprotect.go).
	mux.Handle("POST /s/{token}", link(s.handleLinkPassword))

	// File requests (requests.go): the owner's API, then the stranger's
	// page and upload routes, headed and limited as share links are, and
	// limited per request too (openRequest).
	mux.Handle("POST /requests", scoped(scopeRequestsWrite, s.handleCreateRequest))
	mux.Handle("GET /requests", scoped(scopeRequestsWrite, s.handleListRequests))
	mux.Handle("DELETE /requests/{id}", scoped(scopeRequestsWrite, s.handleDeleteRequest))
	mux.Handle("POST /requests/{id}/close", scoped(scopeRequestsWrite, s.handleCloseRequest))
	mux.Handle("POST /requests/{id}/reopen", scoped(scopeRequestsWrite, s.handleReopenRequest))
	mux.Handle("GET /r/{token}", link(s.handleRequestPage))
	mux.Handle("POST /r/{token}", link(s.handleRequestPassword)) // a protected request's password form (requests.go)
	sending := func(h http.HandlerFunc) http.Handler {           // JSON only
		return s.shareHeaders(s.rateLimited(s.shares.limit, requestTooMany, h))
	}
	mux.Handle("POST /r/{token}/upload", sending(s.handleRequestUpload))
	mux.Handle("POST /r/{token}/upload/{$}", sending(s.handleRequestUpload)) // as POST /upload/: a client's base URL may be the link
	mux.Handle("POST /r/{token}/upload/{id}/complete", sending(s.handleRequestComplete))
	mux.Handle("POST /r/{token}/upload/{id}/parts", sending(s.handleRequestPartURLs))
	mux.Handle("GET /r/{token}/upload/{id}/parts", sending(s.handleRequestListParts))
	mux.Handle("DELETE /r/{token}/upload/{id}", sending(s.handleRequestTakeBack)) // a sender's pending file, taken back

	// The local object store's upload forms, PUT URLs and download URLs
	// point back at this server (localobjects.go, localobjects_upload.go, localobjects_parts.go), checked by their
	// signatures, not by a user; with S3 they point at S3.
	if local, ok := s.objects.(*localObjects); ok {
		mux.HandleFunc("POST /objects/upload", local.handleUpload)
		mux.HandleFunc("GET /objects/{key...}", local.handleDownload)
		mux.HandleFunc("PUT /objects/{key...}", local.handlePut) // localobjects_parts.go
	}
	return jsonMuxErrors(mux)
}
