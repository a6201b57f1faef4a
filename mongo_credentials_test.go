package main

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestDecodeCredentialMatchesDriver: decodeCredential reads what the
// driver's decoder reads from a stored credential, and refuses a document
// with a missing or mistyped field instead of returning zero values.
func TestDecodeCredentialMatchesDriver(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 22, 0, 0, 123e6, time.UTC)
	want := Credential{Hash: hashSecret("t"), Kind: kindBearer, UserID: newID(), CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	doc, err := bson.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var viaDriver Credential
	if err := bson.Unmarshal(doc, &viaDriver); err != nil {
		t.Fatal(err)
	}
	got, err := decodeCredential(doc)
	if err != nil || got != viaDriver || got != want {
		t.Fatalf("decodeCredential = %+v, %v; driver %+v; want %+v", got, err, viaDriver, want)
	}
	disabled := want
	disabled.UserDisabled = true
	if doc, err = bson.Marshal(disabled); err != nil {
		t.Fatal(err)
	}
	if got, err := decodeCredential(doc); err != nil || got != disabled {
		t.Fatalf("decodeCredential of a disabled user's credential = %+v, %v; want %+v", got, err, disabled)
	}
	for name, bad := range map[string]bson.D{
		"missing user_id":   {{Key: "hash", Value: "h"}, {Key: "kind", Value: kindBearer}, {Key: "created_at", Value: at}, {Key: "expires_at", Value: at}},
		"string expires_at": {{Key: "hash", Value: "h"}, {Key: "kind", Value: kindBearer}, {Key: "user_id", Value: "u"}, {Key: "created_at", Value: at}, {Key: "expires_at", Value: "soon"}},
		"int user_id":       {{Key: "hash", Value: "h"}, {Key: "kind", Value: kindBearer}, {Key: "user_id", Value: 7}, {Key: "created_at", Value: at}, {Key: "expires_at", Value: at}},
		"int user_disabled": {{Key: "hash", Value: "h"}, {Key: "kind", Value: kindBearer}, {Key: "user_id", Value: "u"}, {Key: "created_at", Value: at}, {Key: "expires_at", Value: at}, {Key: "user_disabled", Value: 1}},
	} {
		raw, err := bson.Marshal(bad)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := decodeCredential(raw); err == nil {
			t.Errorf("%s: decoded as %+v, want an error", name, c)
		}
	}
}
