package main

// The JSON API's shape on the wire: its error codes and error body, and
// strict reading of JSON request bodies (and the bounds of the HTML forms)
// and writing of JSON answers.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Error codes of the JSON error shape {"error": code, "message": text}.
const (
	codeInvalidRequest   = "invalid_request"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeConflict         = "conflict"
	codePayloadTooLarge  = "payload_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeRateLimited      = "rate_limited"
	codeInternal         = "internal"
	codeUnavailable      = "unavailable"
)

// codeInsufficientScope: a personal access token lacks the route's scope,
// or may not use the route at all (RFC 6750's name; tokens.go). A const of
// its own, so the list above keeps its alignment.
const codeInsufficientScope = "insufficient_scope"

// apiError is the body of every error answer of the JSON API.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// writeJSON writes v as the JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = headerJSON
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeJSONBody writes an already encoded JSON body with writeJSON's
// headers, for the answers appended without reflection (jsonappend.go):
// the file list, a download URL and a created upload's form.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = headerJSON
	w.WriteHeader(status)
	w.Write(body)
}

// writeError writes the documented error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: code, Message: message})
}

// jsonBody says whether a request's JSON body may be left out, so that a
// call of readJSON reads as what it accepts. It is not a bool, so that a
// bare true or false cannot stand in for it.
type jsonBody uint8

const (
	bodyRequired jsonBody = iota // the request must send a JSON body
	bodyOptional                 // no body at all reads as an empty request
)

// maxJSONBody is the largest JSON request body accepted.
const maxJSONBody = 64 << 10

// readJSON decodes a JSON request body into v, strictly: the content type
// must be JSON (else 415), the body at most maxJSONBody (else 413), and
// unknown fields, trailing data and the field names decodeStrictJSON
// refuses are refused (400). An empty body is accepted when body is
// bodyOptional. On false the error has been answered.
func readJSON(w http.ResponseWriter, r *http.Request, v any, body jsonBody) bool {
	optional := body == bodyOptional
	if optional && r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send the body as Content-Type: application/json")
		return false
	}
	err = decodeStrictJSON(http.MaxBytesReader(w, r.Body, maxJSONBody), v)
	if errors.Is(err, io.EOF) && optional {
		return true
	}
	if err != nil {
		writeJSONDecodeError(w, err)
		return false
	}
	return true
}

// decodeStrictJSON decodes the one JSON value of body into v, refusing
// unknown fields and anything after the value. encoding/json also lets a
// field be given twice (the last wins) and matches names regardless of
// case, so two parsers could read one body differently; those are refused
// too, in the top-level object, by checkFieldNames. An empty body is io.EOF.
func decodeStrictJSON(body io.Reader, v any) error {
	var raw bytes.Buffer
	dec := json.NewDecoder(io.TeeReader(body, &raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if err := expectEnd(dec); err != nil {
		return err
	}
	return checkFieldNames(raw.Bytes(), jsonFieldNames(v))
}

// fieldNameError is a field name of a JSON body that decodeStrictJSON
// refuses: "duplicate" or "unknown".
type fieldNameError struct{ problem, name string }

func (e *fieldNameError) Error() string { return e.problem + " field " + strconv.Quote(e.name) }

// checkFieldNames walks the top-level object of data, one valid JSON value
// (it has just been decoded), and refuses a name given twice or one that
// is not exactly one of fields (nil: any name the decoder took). A string
// one level deep followed by a colon is a name; nothing else is.
func checkFieldNames(data []byte, fields []string) error {
	seen := make(map[string]bool, len(fields))
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			end := jsonStringEnd(data, i)
			if next := skipJSONSpace(data, end+1); depth == 1 && next < len(data) && data[next] == ':' {
				name := jsonName(data[i : end+1])
				key, known := fieldKey(name, fields)
				switch {
				case seen[string(name)]:
					return &fieldNameError{"duplicate", string(name)}
				case !known:
					return &fieldNameError{"unknown", string(name)}
				}
				seen[key] = true
			}
			i = end
		}
	}
	return nil
}

// fieldKey is the string that stands for name in checkFieldNames' seen
// set: its entry in fields, so that recording it allocates nothing, or a
// copy when fields is nil (any name). known is false for a name not in
// fields.
func fieldKey(name []byte, fields []string) (key string, known bool) {
	if fields == nil {
		return string(name), true
	}
	for _, f := range fields {
		if f == string(name) {
			return f, true
		}
	}
	return "", false
}

// jsonStringEnd is the index of the quote that closes the JSON string
// opening at data[start].
func jsonStringEnd(data []byte, start int) int {
	for i := start + 1; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(data) - 1
}

// skipJSONSpace is the index of the first non-whitespace byte from i on.
func skipJSONSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// jsonName is the text of a quoted JSON name, escapes resolved as the
// decoder resolves them, so "\u0043ODE" is seen as the "CODE" it means.
// Without escapes it is a slice of quoted, not a copy.
func jsonName(quoted []byte) []byte {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return quoted[1 : len(quoted)-1]
	}
	var name string
	json.Unmarshal(quoted, &name)
	return []byte(name)
}

// jsonFieldNamesByType caches jsonFieldNames' answer for each type it is
// asked about: derived from the type alone and never changed once stored,
// so the reflection runs once per type, not once per request.
var jsonFieldNamesByType sync.Map // reflect.Type → []string

// jsonFieldNames is the exact JSON names of the fields of the struct v
// points to, or nil when v is not a pointer to a struct.
func jsonFieldNames(v any) []string {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	names, ok := jsonFieldNamesByType.Load(t)
	if !ok {
		names, _ = jsonFieldNamesByType.LoadOrStore(t, appendJSONFieldNames(nil, t.Elem()))
	}
	return names.([]string)
}

// appendJSONFieldNames appends the JSON names of struct type t's fields,
// those of untagged embedded structs included, as encoding/json sees them.
func appendJSONFieldNames(names []string, t reflect.Type) []string {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		embedded := f.Type
		if embedded.Kind() == reflect.Pointer {
			embedded = embedded.Elem()
		}
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "" && embedded.Kind() == reflect.Struct:
			names = appendJSONFieldNames(names, embedded)
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

// expectEnd checks that only whitespace follows the decoded value, up to
// the end of the body. dec.More() is not enough: it reports false before a
// stray '}' or ']', and it swallows read errors such as the body limit.
func expectEnd(dec *json.Decoder) error {
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("unexpected %v after the JSON value", tok)
}

// writeJSONDecodeError turns a decoder error into a 400 or 413 that says
// what was wrong without echoing internals.
func writeJSONDecodeError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, codePayloadTooLarge, fmt.Sprintf("the body is over %d bytes", maxJSONBody))
		return
	}
	writeError(w, http.StatusBadRequest, codeInvalidRequest, jsonProblem(err))
}

// jsonProblem says what is wrong with a body decodeStrictJSON refused for
// other reasons than its size.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var nameErr *fieldNameError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return "the body must be a JSON object"
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q has the wrong type", jsonFieldOf(typeErr))
	case errors.As(err, &syntaxErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is not valid JSON"
	case errors.As(err, &nameErr):
		return nameErr.Error()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "the body is not a valid JSON object for this route"
}

// jsonFieldOf is the JSON name of the field a type error is about.
// encoding/json's Field is a path that names an embedded struct by its Go
// type (linkProtectionRequest.password), which a client must not see; its
// last part is always the JSON name, and the API's bodies are flat.
func jsonFieldOf(typeErr *json.UnmarshalTypeError) string {
	return typeErr.Field[strings.LastIndex(typeErr.Field, ".")+1:]
}

// Header values every response or every API answer carries, shared by all
// of them rather than built per request. They are never modified: a header
// set to one is only ever replaced or cloned.
var (
	headerNosniff = []string{"nosniff"}
	headerNoStore = []string{"no-store"}
	headerJSON    = []string{"application/json; charset=utf-8"}
)

// timeOrNil shows an unknown time (a user stored before it was recorded) as null.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// singleField is a form field given exactly once.
func singleField(v url.Values, name string) (string, bool) {
	if len(v[name]) != 1 {
		return "", false
	}
	return v[name][0], true
}

// maxFormBody bounds a sign-in, invitation or link password form: a
// 256-character password is at most 1 KiB, 9 KiB once every byte is
// %-escaped.
const maxFormBody = 16 << 10

// showAll shows each record as the API does, into a list that is never
// null in JSON (an empty list is []).
func showAll[R, J any](records []R, show func(*R) J) []J {
	out := make([]J, 0, len(records))
	for i := range records {
		out = append(out, show(&records[i]))
	}
	return out
}

// ---- What several routes read and write alike ----

// ceilSecond rounds up to a whole second (policies and URLs carry seconds),
// so a URL never lives less than its configured TTL.
func ceilSecond(t time.Time) time.Time {
	if t.Truncate(time.Second).Equal(t) {
		return t
	}
	return t.Truncate(time.Second).Add(time.Second)
}

// parsePaging validates the paging of a list (GET /list/, a file's shares):
// ?limit= (1..1000, 100 by default) and ?cursor= (the previous page's
// next_cursor).
func parsePaging(v url.Values) (limit int, after *Cursor, msg string) {
	limit = 100
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, `"limit" must be an integer from 1 to 1000`
		}
		limit = n
	}
	if c := v.Get("cursor"); c != "" {
		cur, ok := decodeCursor(c)
		if !ok {
			return 0, nil, `"cursor" is not a cursor this server issued`
		}
		after = &cur
	}
	return limit, after, ""
}

// pageOf shows the first limit of records, read with one more than a page
// holds: when that one came back there is a next page, which starts after
// the last record shown, and next is its cursor.
func pageOf[R, J any](records []R, limit int, show func(*R) J, position func(*R) Cursor) (items []J, next *string) {
	page := records[:min(len(records), limit)]
	items = showAll(page, show)
	if len(records) > limit {
		cursor := encodeCursor(position(&page[limit-1]))
		next = &cursor
	}
	return items, next
}

// pathIDOf reads and validates the {id} path value before any query: a
// malformed id answers the same 404 ("no such <what>") as a missing one,
// so the two cannot be told apart. On false it has answered.
func pathIDOf(w http.ResponseWriter, r *http.Request, what string) (string, bool) {
	id := r.PathValue("id")
	if !validID(id) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such "+what)
		return "", false
	}
	return id, true
}

// filePathID is pathIDOf for the routes whose {id} is a file's.
func filePathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	return pathIDOf(w, r, "file")
}

// pathIDAndJSON reads a handler's two inputs in the order every such
// handler answers them: the path's {id} (404 "no such what", the body
// unread), then the JSON body into v, as readJSON does. On false it has
// answered.
func pathIDAndJSON(w http.ResponseWriter, r *http.Request, what string, v any, body jsonBody) (string, bool) {
	id, ok := pathIDOf(w, r, what)
	if !ok || !readJSON(w, r, v, body) {
		return "", false
	}
	return id, true
}

// wantsJSON tells a client that asks for JSON (Accept: application/json)
// from a browser, which asks for HTML.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(part); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}
