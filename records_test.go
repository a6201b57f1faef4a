package main

import (
	"time"
)

// goldenRecords are the records kept in testdata/records, written there by
// the encoders of the log and of MongoDB before the record types were
// merged: what stores already hold. Every optional field appears once
// empty and once set.
type goldenRecords struct {
	files  []File
	creds  []Credential
	users  []User
	states []AuthState
	codes  []AuthCode
}

// goldenRecordValues returns the values behind testdata/records.
func goldenRecordValues() goldenRecords {
	created := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	completed := created.Add(90 * time.Second)
	expires := time.Date(2099, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	declared, size := int64(1234), int64(1235)
	return goldenRecords{
		files: []File{
			{ID: "0f0e0d0c-0000-4000-8000-000000000001", Owner: "owner-1", Filename: "pending.bin",
				Status: statusPending, ObjectKey: "owner-1/0f0e0d0c-0000-4000-8000-000000000001", CreatedAt: created},
			{ID: "0f0e0d0c-0000-4000-8000-000000000002", Owner: "owner-1", Filename: "holiday \"photo\" é.jpg",
				DeclaredSize: &declared, Size: &size, ContentType: "image/jpeg", Status: statusComplete,
				ObjectKey: "owner-1/0f0e0d0c-0000-4000-8000-000000000002", ETag: `"0123456789abcdef"`,
				CreatedAt: created.Add(time.Millisecond), CompletedAt: &completed},
		},
		creds: []Credential{
			{Hash: "c1c1", Kind: kindBearer, UserID: "user-1", CreatedAt: created, ExpiresAt: expires},
			{Hash: "c2c2", Kind: kindSession, UserID: "user-2", CreatedAt: created, ExpiresAt: expires},
		},
		users: []User{
			{ID: "user-1", Issuer: "https://accounts.google.com", Subject: "sub-1"},
			{ID: "user-2", Issuer: "https://accounts.google.com", Subject: "sub-2", Email: "a@example.com",
				Name: "Ann Example", Picture: "https://example.com/a.png"},
		},
		states: []AuthState{
			{Hash: "s1s1", BrowserHash: "b1b1", Nonce: "n1", Verifier: "v1", ExpiresAt: expires},
			{Hash: "s2s2", BrowserHash: "b2b2", Nonce: "n2", Verifier: "v2", AppRedirect: "http://127.0.0.1:5000/cb",
				AppState: "app-state", CodeChallenge: "challenge-2", ExpiresAt: expires},
		},
		codes: []AuthCode{
			{Hash: "k1k1", UserID: "user-2", CodeChallenge: "challenge-3", RedirectURI: "http://[::1]:6000/cb", ExpiresAt: expires},
		},
	}
}
