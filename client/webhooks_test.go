package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWebhooks: add an endpoint, send it a test event, which arrives
// signed with its secret and is listed delivered; rotate its secret; list
// and delete it; and the typed refusals.
func TestWebhooks(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testWebhooks(t, b.URL) })
	}
}

func testWebhooks(t *testing.T, base string) {
	c := signIn(t, base)
	ctx := t.Context()
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- body
	}))
	defer rc.Close()

	if _, err := c.AddWebhook(ctx, rc.URL, []string{"file.eaten"}); !IsCode(err, "invalid_request") {
		t.Fatalf("AddWebhook with an unknown event: %v, want invalid_request", err)
	}
	hook, err := c.AddWebhook(ctx, rc.URL, []string{"file.completed", "file.deleted"})
	if err != nil || !strings.HasPrefix(hook.Secret, "whsec_") {
		t.Fatalf("AddWebhook: %+v, %v", hook, err)
	}
	d, err := c.TestWebhook(ctx, hook.ID)
	if err != nil || d.Event != "webhook.test" {
		t.Fatalf("TestWebhook: %+v, %v", d, err)
	}
	select {
	case r := <-got:
		body := <-bodies
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(hook.Secret, "whsec_"))
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(r.Header.Get("webhook-id") + "." + r.Header.Get("webhook-timestamp") + "." + string(body)))
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if r.Header.Get("webhook-id") != d.ID || r.Header.Get("webhook-signature") != want {
			t.Errorf("received id %q signature %q; want %q, %q", r.Header.Get("webhook-id"), r.Header.Get("webhook-signature"), d.ID, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the test event did not arrive in 20 s")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ds, err := c.WebhookDeliveries(ctx, hook.ID)
		if err == nil && len(ds) == 1 && ds[0].Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WebhookDeliveries: %+v, %v; want one delivered", ds, err)
		}
	}
	rotated, err := c.RotateWebhookSecret(ctx, hook.ID)
	if err != nil || rotated.Secret == hook.Secret || rotated.PreviousSecretExpiresAt == nil {
		t.Fatalf("RotateWebhookSecret: %+v, %v", rotated, err)
	}
	list, err := c.ListWebhooks(ctx)
	if err != nil || len(list) != 1 || list[0].ID != hook.ID || list[0].Secret != "" {
		t.Fatalf("ListWebhooks: %+v, %v", list, err)
	}
	if err := c.DeleteWebhook(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteWebhook(ctx, hook.ID); !IsCode(err, "not_found") {
		t.Fatalf("DeleteWebhook again: %v, want not_found", err)
	}
}
