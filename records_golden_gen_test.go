package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestWriteGoldenRecords writes testdata/records with today's encoders.
// It runs only when DROPP_WRITE_GOLDEN is set.
func TestWriteGoldenRecords(t *testing.T) {
	if os.Getenv("DROPP_WRITE_GOLDEN") == "" {
		t.Skip("DROPP_WRITE_GOLDEN unset")
	}
	g := goldenRecordValues()
	var recs []*localRecord
	var mongo []byte
	addBSON := func(name string, v any) {
		b, err := bson.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		mongo = append(mongo, name+" "+hex.EncodeToString(b)+"\n"...)
	}
	for i, f := range g.files {
		doc := localFileDoc(f)
		recs = append(recs, &localRecord{Op: opPutFile, File: &doc})
		addBSON("file"+string(rune('0'+i)), fileDoc(f))
	}
	for i, c := range g.creds {
		doc := localCredDoc(c)
		recs = append(recs, &localRecord{Op: opPutCred, Cred: &doc})
		addBSON("cred"+string(rune('0'+i)), credentialDoc(c))
	}
	for i, u := range g.users {
		doc := localUserDoc(u)
		recs = append(recs, &localRecord{Op: opPutUser, User: &doc})
		addBSON("user"+string(rune('0'+i)), userDoc(u))
	}
	for i, a := range g.states {
		doc := localStateDoc(a)
		recs = append(recs, &localRecord{Op: opPutState, State: &doc})
		addBSON("state"+string(rune('0'+i)), authStateDoc(a))
	}
	for i, c := range g.codes {
		doc := localCodeDoc(c)
		recs = append(recs, &localRecord{Op: opPutCode, Code: &doc})
		addBSON("code"+string(rune('0'+i)), authCodeDoc(c))
	}
	// One of each delete, of records put just before.
	extraFile := localFileDoc(g.files[0])
	extraFile.ID, extraFile.ObjectKey = "gone-file", "owner-1/gone-file"
	extraCred := localCredDoc(g.creds[0])
	extraCred.Hash = "gone-cred"
	extraState := localStateDoc(g.states[0])
	extraState.Hash = "gone-state"
	extraCode := localCodeDoc(g.codes[0])
	extraCode.Hash = "gone-code"
	recs = append(recs,
		&localRecord{Op: opPutFile, File: &extraFile}, &localRecord{Op: opDelFile, Key: extraFile.ID},
		&localRecord{Op: opPutCred, Cred: &extraCred}, &localRecord{Op: opDelCred, Kind: extraCred.Kind, Key: extraCred.Hash},
		&localRecord{Op: opPutState, State: &extraState}, &localRecord{Op: opDelState, Key: extraState.Hash},
		&localRecord{Op: opPutCode, Code: &extraCode}, &localRecord{Op: opDelCode, Key: extraCode.Hash},
	)
	var log []byte
	for _, rec := range recs {
		line, err := encodeLocalRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, line...)
	}
	dir := filepath.Join("testdata", "records")
	if err := os.WriteFile(filepath.Join(dir, "meta.log"), log, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mongo.hex"), mongo, 0o644); err != nil {
		t.Fatal(err)
	}
}
