package client

import (
	"context"
	"net/url"
	"time"
)

// Webhook is an endpoint the server sends signed events to (Standard
// Webhooks: see the server's docs/webhooks.md for verifying them).
type Webhook struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	// Secret (whsec_...) signs the requests: in AddWebhook's and
	// RotateWebhookSecret's answers only.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretExpiresAt: after a rotation, until when the old
	// secret still signs.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// Delivery is one event sent (or being sent) to an endpoint.
type Delivery struct {
	ID            string     `json:"id"` // the webhook-id header, the same on every attempt
	Event         string     `json:"event"`
	Status        string     `json:"status"` // pending, delivered or failed
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastStatus    *int       `json:"last_status"`
	LastError     string     `json:"last_error"`
	CreatedAt     time.Time  `json:"created_at"`
}

// AddWebhook registers an endpoint for events (file.completed,
// file.deleted, share.created, share.downloaded, request.received); the
// answer holds its secret, which is not shown again.
func (c *Client) AddWebhook(ctx context.Context, endpoint string, events []string) (*Webhook, error) {
	var out struct {
		Webhook Webhook `json:"webhook"`
	}
	in := map[string]any{"url": endpoint, "events": events}
	if err := c.do(ctx, "POST", "/webhooks", in, &out); err != nil {
		return nil, err
	}
	return &out.Webhook, nil
}

// ListWebhooks returns the user's endpoints, oldest first, without secrets.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	if err := c.do(ctx, "GET", "/webhooks", nil, &out); err != nil {
		return nil, err
	}
	return out.Webhooks, nil
}

// DeleteWebhook deletes an endpoint.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/webhooks/"+url.PathEscape(id), nil, nil)
}

// TestWebhook sends a webhook.test event to the endpoint and returns its
// delivery, queued.
func (c *Client) TestWebhook(ctx context.Context, id string) (*Delivery, error) {
	var out struct {
		Delivery Delivery `json:"delivery"`
	}
	if err := c.do(ctx, "POST", "/webhooks/"+url.PathEscape(id)+"/test", nil, &out); err != nil {
		return nil, err
	}
	return &out.Delivery, nil
}

// WebhookDeliveries returns the endpoint's last 50 deliveries, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id string) ([]Delivery, error) {
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	if err := c.do(ctx, "GET", "/webhooks/"+url.PathEscape(id)+"/deliveries", nil, &out); err != nil {
		return nil, err
	}
	return out.Deliveries, nil
}

// RotateWebhookSecret gives the endpoint a new secret, in the answer
// only; the old one still signs for 24 hours.
func (c *Client) RotateWebhookSecret(ctx context.Context, id string) (*Webhook, error) {
	var out struct {
		Webhook Webhook `json:"webhook"`
	}
	if err := c.do(ctx, "POST", "/webhooks/"+url.PathEscape(id)+"/rotate", nil, &out); err != nil {
		return nil, err
	}
	return &out.Webhook, nil
}
