package main

// Webhook events: each change a feature makes becomes one delivery per
// endpoint that wants it, written to the outbox (webhooks.go is the API of
// the endpoints, webhook_delivery.go sends the deliveries).

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// The events an endpoint may subscribe to.
const (
	eventFileCompleted   = "file.completed"
	eventFileDeleted     = "file.deleted"
	eventShareCreated    = "share.created"
	eventShareDownloaded = "share.downloaded"
	eventRequestReceived = "request.received"
	// eventTest is what POST /webhooks/{id}/test sends; no endpoint
	// subscribes to it.
	eventTest = "webhook.test"
)

// webhookEvents lists the events, in the order the API documents them.
var webhookEvents = []string{eventFileCompleted, eventFileDeleted, eventShareCreated, eventShareDownloaded, eventRequestReceived}

// webhookPayload is the body of every delivery, as Standard Webhooks
// suggests: the event's type, when it happened, and what it is about.
type webhookPayload struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"` // each feature's, beside it: fileEventData (files.go), shareEventData (shares.go)
}

// emit writes to the outbox one delivery of the event per endpoint of the
// owner, or server-wide, that wants it. key names the event among all of
// its type (the file's ID for file.completed), so the delivery IDs are
// the same if the event is emitted again, by a retried request: the
// outbox keeps the first. It runs even if the client has gone: the
// change is made, and its event must not be lost with the request.
func (s *server) emit(ctx context.Context, owner, event, key string, data any) error {
	ctx = context.WithoutCancel(ctx)
	hooks, err := s.store.WebhooksFor(ctx, owner, event)
	if err != nil || len(hooks) == 0 {
		return err
	}
	return s.enqueue(ctx, hooks, event, key, data)
}

// enqueue writes one delivery of the event per endpoint, and wakes this
// instance's worker to send them at once.
func (s *server) enqueue(ctx context.Context, hooks []Webhook, event, key string, data any) error {
	ds, err := s.newDeliveries(hooks, event, key, data)
	if err != nil {
		return err
	}
	if err := s.store.InsertDeliveries(ctx, ds); err != nil {
		return err
	}
	s.webhooks.kick()
	return nil
}

// newDeliveries returns one delivery of the event per endpoint, due now.
func (s *server) newDeliveries(hooks []Webhook, event, key string, data any) ([]WebhookDelivery, error) {
	now := s.now().Truncate(time.Millisecond)
	body, err := json.Marshal(webhookPayload{Type: event, Timestamp: now, Data: data})
	if err != nil {
		return nil, err
	}
	ds := make([]WebhookDelivery, 0, len(hooks))
	for _, h := range hooks {
		ds = append(ds, WebhookDelivery{
			ID: deliveryID(h.ID, event, key), WebhookID: h.ID, Owner: h.Owner, Event: event, Payload: string(body),
			CreatedAt: now, Status: deliveryPending, NextAt: now, ExpiresAt: now.Add(deliveryRetention),
		})
	}
	return ds, nil
}

// deliveryID is the webhook-id of the event for one endpoint: "msg_" and
// 128 bits of a hash of both, so that one event emitted twice is one
// delivery.
func deliveryID(webhookID, event, key string) string {
	sum := sha256.Sum256([]byte(webhookID + "\x00" + event + "\x00" + key))
	return "msg_" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// kickIf wakes this instance's worker if a change was made with events:
// their deliveries are written, to be sent at once.
func (s *server) kickIf(events fileEvents) {
	if events != nil {
		s.webhooks.kick()
	}
}
