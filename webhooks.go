package main

// Webhooks: users (and administrators, server-wide) register endpoints that
// are told, signed as Standard Webhooks says, when a file is completed or
// deleted, a share link is created or used, or a file request receives a
// file. Each event becomes one delivery per endpoint that wants it, written
// to the outbox in the store before the change that caused it is answered
// (webhook_events.go), and sent by webhook_delivery.go. Payloads carry ids,
// names, sizes and times: never a token, a share link's URL or a pre-signed
// URL.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	maxWebhooksPerOwner  = 20
	maxWebhookURLLength  = 2048
	deliveriesListed     = 50
	webhookSecretOverlap = 24 * time.Hour // a rotated-out secret still signs for this long
)

// webhookJSON is an endpoint as the API shows it; its secret only in the
// answers that create or rotate it.
type webhookJSON struct {
	ID              string     `json:"id"`
	URL             string     `json:"url"`
	Events          []string   `json:"events"`
	CreatedAt       time.Time  `json:"created_at"`
	Secret          string     `json:"secret,omitempty"`
	OldSecretExpiry *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// toWebhookJSON shows an endpoint without its secrets.
func toWebhookJSON(h *Webhook) webhookJSON {
	return webhookJSON{ID: h.ID, URL: h.URL, Events: h.Events, CreatedAt: h.CreatedAt}
}

// deliveryJSON is a delivery as the API lists it.
type deliveryJSON struct {
	ID        string     `json:"id"`
	Event     string     `json:"event"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	NextTryAt *time.Time `json:"next_attempt_at"` // null unless pending
	LastCode  *int       `json:"last_status"`     // HTTP status of the last attempt; null without one
	LastError string     `json:"last_error"`
	CreatedAt time.Time  `json:"created_at"`
}

// toDeliveryJSON shows a delivery as the API does.
func toDeliveryJSON(d *WebhookDelivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, Event: d.Event, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt}
	if d.Status == deliveryPending {
		out.NextTryAt = &d.NextAt
	}
	if d.LastCode != 0 {
		out.LastCode = &d.LastCode
	}
	return out
}

// createWebhookRequest is the body of POST /webhooks.
type createWebhookRequest struct {
	URL    *string  `json:"url"`
	Events []string `json:"events"`
}

// serverWide serves one of the handlers below, written for a user's
// endpoints (/webhooks), for the server-wide ones (/admin/webhooks),
// which serverWideOwner owns. The acting administrator rides in the
// request's context, for the handlers' audit lines (auditServerWide).
func serverWide(h userHandler) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, admin User) {
		h(w, r.WithContext(context.WithValue(r.Context(), serverWideAdminKey{}, admin)), serverWideOwner)
	}
}

// serverWideAdminKey is the context key of the administrator serverWide
// acts for.
type serverWideAdminKey struct{}

// auditServerWide writes the audit line of a change to a server-wide
// endpoint, naming it: these endpoints receive every user's events, and
// every administrator's action is audited (review 14; review 17: the
// create's line named no endpoint). A user's own endpoint is no
// administrator's action: nothing is written.
func (s *server) auditServerWide(r *http.Request, action string, h *Webhook) {
	if admin, ok := r.Context().Value(serverWideAdminKey{}).(User); ok {
		audit(s.log, r, admin, action, User{}, "webhook", h.ID, "url", h.URL)
	}
}

// handleCreateWebhook handles "POST /webhooks": a new endpoint, answered 201
// with its secret, shown this once.
func (s *server) handleCreateWebhook(w http.ResponseWriter, r *http.Request, owner string) {
	var req createWebhookRequest
	if !readJSON(w, r, &req, bodyRequired) {
		return
	}
	if msg := s.validateWebhook(r.Context(), &req); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, msg)
		return
	}
	existing, err := s.store.ListWebhooks(r.Context(), owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(existing) >= maxWebhooksPerOwner {
		writeError(w, http.StatusConflict, codeConflict, fmt.Sprintf("there are already %d webhooks, the most allowed: delete one first", maxWebhooksPerOwner))
		return
	}
	h := Webhook{ID: newID(), Owner: owner, URL: *req.URL, Events: req.Events, Secret: newWebhookSecret(), CreatedAt: s.now().Truncate(time.Millisecond)}
	if err := s.store.InsertWebhook(r.Context(), h); err != nil {
		s.fail(w, r, err)
		return
	}
	s.auditServerWide(r, "create_webhook", &h)
	out := toWebhookJSON(&h)
	out.Secret = h.Secret
	writeJSON(w, http.StatusCreated, map[string]webhookJSON{"webhook": out})
}

// validateWebhook checks an endpoint's URL and events, and returns what is
// wrong, or "". The URL's addresses are checked here too, for a clear
// answer; the check that counts is made at every connection.
func (s *server) validateWebhook(ctx context.Context, req *createWebhookRequest) string {
	if req.URL == nil {
		return `"url" is required`
	}
	if msg := s.validateWebhookURL(ctx, *req.URL); msg != "" {
		return msg
	}
	if len(req.Events) == 0 {
		return `"events" must list one or more of ` + strings.Join(webhookEvents, ", ")
	}
	for i, e := range req.Events {
		if !slices.Contains(webhookEvents, e) {
			return fmt.Sprintf(`"events": unknown event %q; the events are %q`, e, webhookEvents)
		}
		if slices.Contains(req.Events[:i], e) {
			return fmt.Sprintf(`"events": %q is listed twice`, e)
		}
	}
	return ""
}

// validateWebhookURL accepts an absolute https URL (http too with
// WEBHOOK_ALLOW_PRIVATE) without credentials or fragment, whose host
// resolves to addresses Dropp may send to.
func (s *server) validateWebhookURL(ctx context.Context, raw string) string {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > maxWebhookURLLength:
		return fmt.Sprintf(`"url" must be at most %d characters`, maxWebhookURLLength)
	case err != nil || u.Host == "" || u.Hostname() == "":
		return `"url" must be an absolute URL, e.g. https://example.com/hooks/dropp`
	case u.Scheme != "https" && !(u.Scheme == "http" && s.cfg.WebhookAllowPrivate):
		return `"url" must use https (http only with WEBHOOK_ALLOW_PRIVATE=true)`
	case u.User != nil || u.Fragment != "":
		return `"url" must not carry credentials or a fragment`
	case s.cfg.WebhookAllowPrivate:
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	ips, err := s.webhooks.resolve(ctx, u.Hostname())
	if err != nil {
		return fmt.Sprintf(`"url": the host %q does not resolve`, u.Hostname())
	}
	for _, ip := range ips {
		if reason := blockedAddr(ip); reason != "" {
			s.log.Info("webhooks: an endpoint's address is refused at registration", "host", u.Hostname(), "address", ip, "reason", reason)
			return `"url": ` + refusedAddressMessage(reason)
		}
	}
	return ""
}

// handleListWebhooks handles "GET /webhooks": the owner's endpoints, oldest first.
func (s *server) handleListWebhooks(w http.ResponseWriter, r *http.Request, owner string) {
	hooks, err := s.store.ListWebhooks(r.Context(), owner)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]webhookJSON{"webhooks": showAll(hooks, toWebhookJSON)})
}

// handleDeleteWebhook handles "DELETE /webhooks/{id}".
func (s *server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := pathIDOf(w, r, "webhook")
	if !ok {
		return
	}
	if err := s.store.DeleteWebhook(r.Context(), owner, id); err != nil {
		s.webhookFail(w, r, err)
		return
	}
	s.auditServerWide(r, "delete_webhook", &Webhook{ID: id})
	w.WriteHeader(http.StatusNoContent)
}

// handleTestWebhook handles "POST /webhooks/{id}/test": a webhook.test event to
// this endpoint only, answered 202 with its delivery.
func (s *server) handleTestWebhook(w http.ResponseWriter, r *http.Request, owner string) {
	h, ok := s.ownedWebhook(w, r, owner)
	if !ok {
		return
	}
	key := newID()
	data := map[string]string{"webhook_id": h.ID}
	if err := s.enqueue(context.WithoutCancel(r.Context()), []Webhook{h}, eventTest, key, data); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.store.GetDelivery(r.Context(), deliveryID(h.ID, eventTest, key))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]deliveryJSON{"delivery": toDeliveryJSON(&d)})
}

// handleWebhookDeliveries handles "GET /webhooks/{id}/deliveries": the endpoint's
// last deliveries, newest first.
func (s *server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request, owner string) {
	h, ok := s.ownedWebhook(w, r, owner)
	if !ok {
		return
	}
	ds, err := s.store.ListDeliveries(r.Context(), h.ID, deliveriesListed)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]deliveryJSON{"deliveries": showAll(ds, toDeliveryJSON)})
}

// handleRotateWebhook handles "POST /webhooks/{id}/rotate": a new secret, shown
// this once; the one it replaces still signs for webhookSecretOverlap.
func (s *server) handleRotateWebhook(w http.ResponseWriter, r *http.Request, owner string) {
	id, ok := pathIDOf(w, r, "webhook")
	if !ok {
		return
	}
	until := s.now().Add(webhookSecretOverlap).Truncate(time.Millisecond)
	h, err := s.store.RotateWebhookSecret(r.Context(), owner, id, newWebhookSecret(), until)
	if err != nil {
		s.webhookFail(w, r, err)
		return
	}
	s.auditServerWide(r, "rotate_webhook_secret", &h)
	out := toWebhookJSON(&h)
	out.Secret, out.OldSecretExpiry = h.Secret, &h.OldUntil
	writeJSON(w, http.StatusOK, map[string]webhookJSON{"webhook": out})
}

// ownedWebhook reads the owner's endpoint of the path's {id}; on false it
// has answered.
func (s *server) ownedWebhook(w http.ResponseWriter, r *http.Request, owner string) (Webhook, bool) {
	id, ok := pathIDOf(w, r, "webhook")
	if !ok {
		return Webhook{}, false
	}
	h, err := s.store.GetWebhook(r.Context(), owner, id)
	if err != nil {
		s.webhookFail(w, r, err)
		return Webhook{}, false
	}
	return h, true
}

// webhookFail answers a store error about an endpoint: a missing one (or
// another owner's) is "no such webhook", the rest as classify says.
func (s *server) webhookFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such webhook")
		return
	}
	s.fail(w, r, err)
}
