package client

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFileRequests: the owner creates requests, lists them page by page,
// closes, reopens and deletes one; a stranger sends a file through the
// link with SendToRequest and the owner's list shows it, marked.
func TestFileRequests(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.Name, func(t *testing.T) { testFileRequests(t, b.URL) })
	}
}

func testFileRequests(t *testing.T, base string) {
	defer func(old int) { requestPageLimit = old }(requestPageLimit)
	requestPageLimit = 1
	c := signIn(t, base)
	ctx := t.Context()
	fr, err := c.CreateRequest(ctx, RequestOptions{Title: "Receipts", Message: "2026 please", ExpiresIn: 90 * time.Minute,
		MaxFiles: 2, MaxBytes: 1 << 20, ContentTypes: []string{"text/*"}})
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	if until := time.Until(fr.ExpiresAt); !strings.Contains(fr.URL, "/r/") || fr.Title != "Receipts" || until < 89*time.Minute || until > 90*time.Minute {
		t.Fatalf("CreateRequest: %+v", fr)
	}
	other, err := c.CreateRequest(ctx, RequestOptions{Title: "Other", MaxFiles: 1, MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRequest(ctx, RequestOptions{MaxFiles: 1, MaxBytes: 1}); !IsCode(err, "invalid_request") {
		t.Fatalf("CreateRequest without a title: %v, want invalid_request", err)
	}

	src := filepath.Join(t.TempDir(), "march.txt")
	os.WriteFile(src, []byte("receipts of march\n"), 0o600)
	sent, err := SendToRequest(ctx, fr.URL, src, "text/plain", Sender{Name: "Ann", Note: "one month"}, nil)
	if err != nil {
		t.Fatalf("SendToRequest: %v", err)
	}
	if sent.Status != "complete" || sent.RequestID != fr.ID || sent.SenderName != "Ann" || sent.SenderNote != "one month" {
		t.Fatalf("SendToRequest: %+v", sent)
	}
	if _, err := SendToRequest(ctx, fr.URL, src, "application/pdf", Sender{}, nil); !IsCode(err, "invalid_request") {
		t.Fatalf("a type the request does not take: %v, want invalid_request", err)
	}
	files, err := c.ListAll(ctx, ListOptions{})
	if err != nil || !slices.ContainsFunc(files, func(f File) bool { return f.ID == sent.ID && f.RequestID == fr.ID }) {
		t.Fatalf("the owner's files: %+v, %v; want the sent file among them", files, err)
	}

	list, err := c.ListRequests(ctx)
	at := func(id string) int { return slices.IndexFunc(list, func(l FileRequest) bool { return l.ID == id }) }
	// Oldest first, and by id among those made in the same millisecond,
	// as two requests made one after the other can be.
	first, second := fr.ID, other.ID
	if other.CreatedAt.Before(fr.CreatedAt) || other.CreatedAt.Equal(fr.CreatedAt) && other.ID < fr.ID {
		first, second = second, first
	}
	i := at(fr.ID)
	if err != nil || i < 0 || at(second) != at(first)+1 || list[i].URL != "" || list[i].FilesReceived != 1 {
		t.Fatalf("ListRequests: %+v, %v; want both, oldest first, without url", list, err)
	}
	if closed, err := c.CloseRequest(ctx, fr.ID); err != nil || !closed.Closed {
		t.Fatalf("CloseRequest: %+v, %v", closed, err)
	}
	if _, err := SendToRequest(ctx, fr.URL, src, "text/plain", Sender{}, nil); !IsCode(err, "not_found") {
		t.Fatalf("sending to a closed request: %v, want not_found", err)
	}
	if open, err := c.ReopenRequest(ctx, fr.ID); err != nil || open.Closed {
		t.Fatalf("ReopenRequest: %+v, %v", open, err)
	}
	if err := c.DeleteRequest(ctx, other.ID); err != nil {
		t.Fatalf("DeleteRequest: %v", err)
	}
	if err := c.DeleteRequest(ctx, other.ID); !IsCode(err, "not_found") {
		t.Fatalf("DeleteRequest again: %v, want not_found", err)
	}
}

// TestSendToProtectedRequests: a sender gives a password-protected
// request's password (Sender.Password), and a signed-in user sends to a
// members-only request of their server ((*Client).SendToRequest); without
// them, or with a wrong password, the send is refused 401, and a client
// of another server does not send its token to the link.
func TestSendToProtectedRequests(t *testing.T) {
	base := testServer(t)
	c := signIn(t, base)
	ctx := t.Context()
	const password = "correct horse battery staple"
	protected, err := c.CreateRequest(ctx, RequestOptions{Title: "Protected", MaxFiles: 1, MaxBytes: 100, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	members, err := c.CreateRequest(ctx, RequestOptions{Title: "Members", MaxFiles: 1, MaxBytes: 100, MembersOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "s.txt")
	os.WriteFile(src, []byte("sent\n"), 0o600)

	for _, wrong := range []string{"", "not the password at all"} {
		if _, err := SendToRequest(ctx, protected.URL, src, "text/plain", Sender{Password: wrong}, nil); !IsCode(err, "unauthorized") {
			t.Errorf("a send to a protected request with password %q: %v, want unauthorized", wrong, err)
		}
	}
	sent, err := SendToRequest(ctx, protected.URL, src, "text/plain", Sender{Name: "Ann", Password: password}, nil)
	if err != nil || sent.RequestID != protected.ID || sent.Status != "complete" {
		t.Fatalf("a send to a protected request with its password: %+v, %v", sent, err)
	}

	if _, err := SendToRequest(ctx, members.URL, src, "text/plain", Sender{}, nil); !IsCode(err, "unauthorized") {
		t.Errorf("a stranger's send to a members-only request: %v, want unauthorized", err)
	}
	elsewhere := New("http://127.0.0.1:1", c.Token) // another server's client: the link never sees its token
	if _, err := elsewhere.SendToRequest(ctx, members.URL, src, "text/plain", Sender{}, nil); !IsCode(err, "unauthorized") {
		t.Errorf("a send to a members-only request by another server's client: %v, want unauthorized", err)
	}
	sent, err = c.SendToRequest(ctx, members.URL, src, "text/plain", Sender{Name: "Me"}, nil)
	if err != nil || sent.RequestID != members.ID || sent.Status != "complete" {
		t.Fatalf("a signed-in send to a members-only request: %+v, %v", sent, err)
	}
}
