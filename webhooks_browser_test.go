//go:build unix

package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestWebPageWebhooksInChromium: the page's Webhooks section adds an
// endpoint (showing its secret once), sends it a test event, which the
// endpoint receives signed with that secret, and lists the delivery.
func TestWebPageWebhooksInChromium(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	e := newLocalTestEnv(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"})
	startWebhookWorker(t, e)
	rc := newHookReceiver(t)
	chrome, page := openSignedInApp(t, e.URL)
	addJS := fmt.Sprintf(`(() => { document.getElementById("webhooks").open = true;
		document.getElementById("webhook-url").value = %q;
		document.getElementById("webhook-add").click(); return true; })()`, rc.URL+"/hook")
	if err := chrome.evaluate(page, addJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	var secret string
	waitForApp(t, chrome, page, func(s appState) bool {
		chrome.evaluate(page, `(document.getElementById("webhook-secret").textContent.match(/whsec_\S+/) || [""])[0]`, &secret)
		return secret != "" && strings.Contains(s.Text, rc.URL+"/hook")
	})
	const testJS = `(() => { Array.from(document.querySelectorAll("#webhook-list button")).find(b => b.textContent === "Send test").click(); return true; })()`
	if err := chrome.evaluate(page, testJS, new(bool)); err != nil {
		t.Fatal(err)
	}
	if err := verifyWebhook(secret, rc.await(t, 1)[0]); err != nil {
		t.Errorf("the test event with the page's secret: %v", err)
	}
	const showJS = `(() => { Array.from(document.querySelectorAll("#webhook-list button")).find(b => b.textContent === "Deliveries").click(); return true; })()`
	waitForApp(t, chrome, page, func(s appState) bool {
		chrome.evaluate(page, showJS, new(bool))
		return strings.Contains(s.Text, "webhook.test: delivered")
	})
	savePagePNG(t, chrome, page, "page-webhooks.png")
}
