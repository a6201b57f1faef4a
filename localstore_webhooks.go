package main

// Webhooks in the local store: endpoints and deliveries are records of the
// log like any other, so a delivery is on disk before the request that
// caused it is answered, and replayed after a crash. Claims on deliveries
// live in memory only: one process at a time opens the store (its
// flock), so a claim needs no other instance to see it, and a crash that
// forgets the claims is exactly when the deliveries in flight must be sent
// again.

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// The webhook kinds kept in plain maps.
var (
	localWebhooks = localKind[string, Webhook]{
		rows: func(st *localState) map[string]Webhook { return st.webhooks },
		key:  func(h *Webhook) string { return h.ID },
		put:  func(h *Webhook) *localRecord { return &localRecord{Op: opPutWebhook, Hook: h} },
		del:  func(id string) *localRecord { return &localRecord{Op: opDelWebhook, Key: id} },
	}
	localDeliveries = localKind[string, WebhookDelivery]{
		rows:    func(st *localState) map[string]WebhookDelivery { return st.deliveries },
		key:     func(d *WebhookDelivery) string { return d.ID },
		put:     func(d *WebhookDelivery) *localRecord { return &localRecord{Op: opPutDelivery, Deliv: d} },
		expires: func(d *WebhookDelivery) time.Time { return d.ExpiresAt },
	}
)

// localClaims are the claims on delivery attempts, by "id/attempt".
type localClaims struct {
	mu sync.Mutex
	m  map[string]time.Time // → until
}

// InsertWebhook stores a new endpoint.
func (s *localStore) InsertWebhook(ctx context.Context, h Webhook) error {
	h = normalizeLocalWebhook(h)
	return localWebhooks.insert(ctx, s, h)
}

// normalizeLocalWebhook copies h with its times as MongoDB keeps them.
func normalizeLocalWebhook(h Webhook) Webhook {
	h.Events = slices.Clone(h.Events)
	h.CreatedAt, h.OldUntil = localTime(h.CreatedAt), localTimeOrZero(h.OldUntil)
	return h
}

// localTimeOrZero is localTime, keeping a zero time zero.
func localTimeOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return localTime(t)
}

// ListWebhooks returns the owner's endpoints, oldest first.
func (s *localStore) ListWebhooks(ctx context.Context, owner string) ([]Webhook, error) {
	return s.webhooksWhere(ctx, func(h *Webhook) bool { return h.Owner == owner })
}

// WebhooksFor returns the owner's and the server-wide endpoints that want event.
func (s *localStore) WebhooksFor(ctx context.Context, owner, event string) ([]Webhook, error) {
	return s.webhooksWhere(ctx, func(h *Webhook) bool {
		return (h.Owner == owner || h.Owner == serverWideOwner) && slices.Contains(h.Events, event)
	})
}

// webhooksWhere returns copies of the endpoints that match, oldest first.
func (s *localStore) webhooksWhere(ctx context.Context, match func(*Webhook) bool) ([]Webhook, error) {
	hooks := []Webhook{}
	err := s.view(ctx, func(st *localState) error {
		for _, h := range st.webhooks {
			if match(&h) {
				hooks = append(hooks, normalizeLocalWebhook(h))
			}
		}
		return nil
	})
	slices.SortFunc(hooks, func(a, b Webhook) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return hooks, err
}

// GetWebhook returns the owner's endpoint with that ID.
func (s *localStore) GetWebhook(ctx context.Context, owner, id string) (Webhook, error) {
	var found Webhook
	err := s.view(ctx, func(st *localState) error {
		h, err := st.ownedWebhook(owner, id)
		found = normalizeLocalWebhook(h)
		return err
	})
	return found, err
}

// ownedWebhook returns the endpoint with that ID if owner owns it.
func (st *localState) ownedWebhook(owner, id string) (Webhook, error) {
	h, ok := st.webhooks[id]
	if !ok || h.Owner != owner {
		return Webhook{}, ErrNotFound
	}
	return h, nil
}

// DeleteWebhook deletes the owner's endpoint.
func (s *localStore) DeleteWebhook(ctx context.Context, owner, id string) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		if _, err := st.ownedWebhook(owner, id); err != nil {
			return nil, err
		}
		return localWebhooks.del(id), nil
	})
}

// RotateWebhookSecret replaces the secret, under the write lock.
func (s *localStore) RotateWebhookSecret(ctx context.Context, owner, id, secret string, oldUntil time.Time) (Webhook, error) {
	var rotated Webhook
	err := s.change(ctx, func(st *localState) (*localRecord, error) {
		h, err := st.ownedWebhook(owner, id)
		if err != nil {
			return nil, err
		}
		h = normalizeLocalWebhook(h)
		h.OldSecret, h.OldUntil, h.Secret = h.Secret, localTime(oldUntil), secret
		rotated = h
		return localWebhooks.put(&h), nil
	})
	return rotated, err
}

// InsertDeliveries appends the new deliveries to the log as one record;
// those already there are left alone.
func (s *localStore) InsertDeliveries(ctx context.Context, ds []WebhookDelivery) error {
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		return st.withOutbox(nil, ds), nil
	})
}

// normalizeLocalDelivery copies d with its times as MongoDB keeps them.
func normalizeLocalDelivery(d WebhookDelivery) WebhookDelivery {
	d.CreatedAt, d.NextAt, d.ExpiresAt = localTime(d.CreatedAt), localTime(d.NextAt), localTime(d.ExpiresAt)
	return d
}

// DueDeliveries returns the pending deliveries due by now, earliest first,
// but none of the busy ones.
func (s *localStore) DueDeliveries(ctx context.Context, now time.Time, limit int, busy BusyEndpoints) ([]WebhookDelivery, error) {
	return s.deliveriesWhere(ctx, limit, func(d *WebhookDelivery) bool {
		return d.Status == deliveryPending && !d.NextAt.After(now) && !busy.holds(d)
	}, func(a, b WebhookDelivery) int { return cmp.Or(a.NextAt.Compare(b.NextAt), strings.Compare(a.ID, b.ID)) })
}

// ListDeliveries returns the endpoint's last deliveries, newest first.
func (s *localStore) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]WebhookDelivery, error) {
	return s.deliveriesWhere(ctx, limit, func(d *WebhookDelivery) bool { return d.WebhookID == webhookID },
		func(a, b WebhookDelivery) int {
			return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
		})
}

// deliveriesWhere returns the first limit deliveries that match, in order.
// It walks every delivery: the local store serves one machine's events,
// and deliveries go after deliveryRetention.
func (s *localStore) deliveriesWhere(ctx context.Context, limit int, match func(*WebhookDelivery) bool, order func(a, b WebhookDelivery) int) ([]WebhookDelivery, error) {
	found := []WebhookDelivery{}
	err := s.view(ctx, func(st *localState) error {
		for _, d := range st.deliveries {
			if match(&d) {
				found = append(found, d)
			}
		}
		return nil
	})
	slices.SortFunc(found, order)
	return found[:min(len(found), limit)], err
}

// GetDelivery returns the delivery with that ID.
func (s *localStore) GetDelivery(ctx context.Context, id string) (WebhookDelivery, error) {
	return localDeliveries.get(ctx, s, id, time.Time{})
}

// RecordAttempt stores d's outcome if the stored delivery is still at the
// attempt before d's.
func (s *localStore) RecordAttempt(ctx context.Context, d WebhookDelivery) error {
	d = normalizeLocalDelivery(d)
	return s.change(ctx, func(st *localState) (*localRecord, error) {
		cur, ok := st.deliveries[d.ID]
		if !ok || cur.Attempts != d.Attempts-1 {
			return nil, ErrConflict
		}
		return localDeliveries.put(&d), nil
	})
}

// ClaimDelivery takes the attempt unless an unexpired claim holds it.
func (s *localStore) ClaimDelivery(ctx context.Context, id string, attempt int, now, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	c := &s.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]time.Time{}
	}
	key := claimKey(id, attempt)
	if held, ok := c.m[key]; ok && now.Before(held) {
		return false, nil
	}
	c.m[key] = until
	return true, nil
}

// ReleaseClaim drops the attempt's claim.
func (s *localStore) ReleaseClaim(ctx context.Context, id string, attempt int) error {
	c := &s.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, claimKey(id, attempt))
	return nil
}
