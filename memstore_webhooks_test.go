package main

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// memWebhooks is the in-memory store's webhooks: endpoints, deliveries
// and claims, each by ID.
type memWebhooks struct {
	mu         sync.Mutex
	hooks      map[string]Webhook
	deliveries map[string]WebhookDelivery
	claims     map[string]time.Time
}

// lock locks the webhooks and makes their maps on first use.
func (m *memWebhooks) lock() func() {
	m.mu.Lock()
	if m.hooks == nil {
		m.hooks, m.deliveries, m.claims = map[string]Webhook{}, map[string]WebhookDelivery{}, map[string]time.Time{}
	}
	return m.mu.Unlock
}

func (m *memStore) InsertWebhook(_ context.Context, h Webhook) error {
	defer m.hooks.lock()()
	if _, dup := m.hooks.hooks[h.ID]; dup {
		return ErrConflict
	}
	m.hooks.hooks[h.ID] = normalizeLocalWebhook(h)
	return nil
}

func (m *memStore) ListWebhooks(_ context.Context, owner string) ([]Webhook, error) {
	return m.hooks.where(func(h *Webhook) bool { return h.Owner == owner }), nil
}

func (m *memStore) WebhooksFor(_ context.Context, owner, event string) ([]Webhook, error) {
	return m.hooks.where(func(h *Webhook) bool {
		return (h.Owner == owner || h.Owner == serverWideOwner) && slices.Contains(h.Events, event)
	}), nil
}

// where returns copies of the endpoints that match, oldest first.
func (m *memWebhooks) where(match func(*Webhook) bool) []Webhook {
	defer m.lock()()
	found := []Webhook{}
	for _, h := range m.hooks {
		if match(&h) {
			found = append(found, normalizeLocalWebhook(h))
		}
	}
	slices.SortFunc(found, func(a, b Webhook) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return found
}

func (m *memStore) GetWebhook(_ context.Context, owner, id string) (Webhook, error) {
	defer m.hooks.lock()()
	h, ok := m.hooks.hooks[id]
	if !ok || h.Owner != owner {
		return Webhook{}, ErrNotFound
	}
	return normalizeLocalWebhook(h), nil
}

func (m *memStore) DeleteWebhook(_ context.Context, owner, id string) error {
	defer m.hooks.lock()()
	if h, ok := m.hooks.hooks[id]; !ok || h.Owner != owner {
		return ErrNotFound
	}
	delete(m.hooks.hooks, id)
	return nil
}

func (m *memStore) RotateWebhookSecret(_ context.Context, owner, id, secret string, oldUntil time.Time) (Webhook, error) {
	defer m.hooks.lock()()
	h, ok := m.hooks.hooks[id]
	if !ok || h.Owner != owner {
		return Webhook{}, ErrNotFound
	}
	h.OldSecret, h.OldUntil, h.Secret = h.Secret, localTime(oldUntil), secret
	m.hooks.hooks[id] = h
	return normalizeLocalWebhook(h), nil
}

func (m *memStore) InsertDeliveries(_ context.Context, ds []WebhookDelivery) error {
	defer m.hooks.lock()()
	for _, d := range ds {
		if _, dup := m.hooks.deliveries[d.ID]; !dup {
			m.hooks.deliveries[d.ID] = normalizeLocalDelivery(d)
		}
	}
	return nil
}

func (m *memStore) DueDeliveries(_ context.Context, now time.Time, limit int, busy BusyEndpoints) ([]WebhookDelivery, error) {
	return m.hooks.deliveriesWhere(limit, func(d *WebhookDelivery) bool {
		return d.Status == deliveryPending && !d.NextAt.After(now) && !busy.holds(d)
	}, func(a, b WebhookDelivery) int { return cmp.Or(a.NextAt.Compare(b.NextAt), strings.Compare(a.ID, b.ID)) }), nil
}

func (m *memStore) ListDeliveries(_ context.Context, webhookID string, limit int) ([]WebhookDelivery, error) {
	return m.hooks.deliveriesWhere(limit, func(d *WebhookDelivery) bool { return d.WebhookID == webhookID },
		func(a, b WebhookDelivery) int {
			return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
		}), nil
}

// deliveriesWhere returns the first limit deliveries that match, in order.
func (m *memWebhooks) deliveriesWhere(limit int, match func(*WebhookDelivery) bool, order func(a, b WebhookDelivery) int) []WebhookDelivery {
	defer m.lock()()
	found := []WebhookDelivery{}
	for _, d := range m.deliveries {
		if match(&d) {
			found = append(found, d)
		}
	}
	slices.SortFunc(found, order)
	return found[:min(len(found), limit)]
}

func (m *memStore) GetDelivery(_ context.Context, id string) (WebhookDelivery, error) {
	defer m.hooks.lock()()
	d, ok := m.hooks.deliveries[id]
	if !ok {
		return WebhookDelivery{}, ErrNotFound
	}
	return d, nil
}

func (m *memStore) RecordAttempt(_ context.Context, d WebhookDelivery) error {
	defer m.hooks.lock()()
	cur, ok := m.hooks.deliveries[d.ID]
	if !ok || cur.Attempts != d.Attempts-1 {
		return ErrConflict
	}
	m.hooks.deliveries[d.ID] = normalizeLocalDelivery(d)
	return nil
}

func (m *memStore) ClaimDelivery(_ context.Context, id string, attempt int, now, until time.Time) (bool, error) {
	defer m.hooks.lock()()
	key := claimKey(id, attempt)
	if held, ok := m.hooks.claims[key]; ok && now.Before(held) {
		return false, nil
	}
	m.hooks.claims[key] = until
	return true, nil
}

func (m *memStore) ReleaseClaim(_ context.Context, id string, attempt int) error {
	defer m.hooks.lock()()
	delete(m.hooks.claims, claimKey(id, attempt))
	return nil
}
