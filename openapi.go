package main

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// openAPIDocument is the OpenAPI 3.1 description of the whole HTTP API,
// served at GET /openapi.json. openapi_test.go keeps it and the route table
// in step, and checks real answers against its schemas.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag is the document's validator, computed once: the document
// changes only with the binary.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// handleOpenAPI handles "GET /openapi.json". It is public (it describes,
// it holds nothing) and cacheable; http.ServeContent answers
// If-None-Match with 304.
func handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", openAPIETag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(openAPIDocument))
}
