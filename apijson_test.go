package main

// Tests of how the JSON API reads request bodies (readJSON, checkFieldNames).

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// TestAPIJSONRefusesDuplicateAndCaseVariantFields: the API's bodies refuse
// a field given twice (encoding/json would keep the last) and a field name
// that matches only by ignoring case, with the usual 400.
func TestAPIJSONRefusesDuplicateAndCaseVariantFields(t *testing.T) {
	t.Parallel()
	e := newLocalTestEnv(t, nil)
	tok := e.newUser("strict")
	up := func(body string) (*http.Response, []byte) {
		return e.do(request{method: "POST", path: "/upload/", token: tok, body: body})
	}
	for _, tc := range []struct{ body, want string }{
		{`{"filename":"a/b","filename":"ok.txt"}`, `duplicate field "filename"`},
		{`{"filename":"a.txt","size":1,"size":2}`, `duplicate field "size"`},
		{`{"FileName":"a.txt"}`, `unknown field "FileName"`},
		{`{"filename":"a.txt","Content_Type":"text/plain"}`, `unknown field "Content_Type"`},
		{"{\"filename\":\"a.txt\",\"\u017Fize\":1}", "unknown field \"\u017Fize\""}, // ſ folds to s
	} {
		resp, body := up(tc.body)
		wantStatus(t, resp, body, http.StatusBadRequest)
		if msg := decode[apiErrorJSON](t, body).Message; msg != tc.want {
			t.Errorf("%s: message %q, want %q", tc.body, msg, tc.want)
		}
	}
	resp, body := up(`{"filename":"a.txt","size":1,"content_type":"text/plain"}`)
	wantStatus(t, resp, body, http.StatusCreated)
	id := decode[uploadOut](t, body).File.ID
	resp, body = e.do(request{method: "POST", path: "/upload/" + id + "/complete", token: tok, body: `{"size":1,"size":1}`})
	wantStatus(t, resp, body, http.StatusBadRequest)
	if msg := decode[apiErrorJSON](t, body).Message; msg != `duplicate field "size"` {
		t.Errorf("complete: message %q, want duplicate field", msg)
	}
}

// TestCheckFieldNames: only the names of the top-level object count, read
// as the decoder reads them (escapes resolved), never strings that merely
// look like names inside values.
func TestCheckFieldNames(t *testing.T) {
	t.Parallel()
	fields := []string{"a", "b", "obj"}
	tests := []struct{ data, want string }{
		{`{"a":1,"b":"x"}`, ""},
		{` { "a" : 1 , "b" : 2 } `, ""},
		{`{"a":1,"a":2}`, `duplicate field "a"`},
		{`{"a":1, "\u0061":2}`, `duplicate field "a"`},
		{`{"A":1}`, `unknown field "A"`},
		{`{"\u0041":1}`, `unknown field "A"`},
		{`{"b":"\"a\":1,\"a\":2","a":"}{"}`, ""},
		{`{"obj":{"x":1,"x":2,"A":3},"a":[{"a":1},"b:"]}`, ""},
		{`{"obj":{"a":{"b":1}},"b":{"c":[1,2]},"a":null}`, ""},
		{`{"obj":[],"obj":{}}`, `duplicate field "obj"`},
		{`{"b":"\\","c":1}`, `unknown field "c"`},
		{`"a"`, ""},
		{`["a","b","a"]`, ""},
		{`null`, ""},
		{`{}`, ""},
	}
	for _, tc := range tests {
		err := checkFieldNames([]byte(tc.data), fields)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.data, got, tc.want)
		}
	}
	if err := checkFieldNames([]byte(`{"x":1,"y":2,"x":3}`), nil); err == nil || err.Error() != `duplicate field "x"` {
		t.Errorf("without fields: %v, want the duplicate refused", err)
	}
}

// TestJSONFieldNames: the names checkFieldNames allows are exactly the
// ones encoding/json decodes into, embedded structs included.
func TestJSONFieldNames(t *testing.T) {
	t.Parallel()
	type Inner struct {
		Deep string `json:"deep"`
	}
	type outer struct {
		*Inner
		tokenRequest
		Tagged  string `json:"tagged,omitempty"`
		Plain   string
		Skipped string `json:"-"`
		private string
	}
	got := jsonFieldNames(&outer{})
	want := []string{"deep", "grant_type", "code", "code_verifier", "redirect_uri", "tagged", "Plain"}
	if !slices.Equal(got, want) {
		t.Errorf("jsonFieldNames = %q, want %q", got, want)
	}
	if got := jsonFieldNames(&map[string]any{}); got != nil {
		t.Errorf("jsonFieldNames(map) = %q, want nil", got)
	}
}

// TestAPIJSONWrongTypeNamesTheJSONField: a field of the wrong type is
// named as the client wrote it, never by the Go path encoding/json
// reports, which names an embedded struct's type
// ("linkProtectionRequest.password"): every field of the bodies that embed
// one, and of two that do not.
func TestAPIJSONWrongTypeNamesTheJSONField(t *testing.T) {
	t.Parallel()
	for _, newBody := range []func() any{
		func() any { return &createShareRequest{} },
		func() any { return &createRequestBody{} },
		func() any { return &createUploadRequest{} },
		func() any { return &createWebhookRequest{} },
	} {
		for _, name := range jsonFieldNames(newBody()) {
			body := `{"` + name + `":{}}`
			w := fuzzServeReadJSON("application/json", []byte(body), false, newBody())
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != http.StatusBadRequest {
				t.Errorf("%T %s: %d %s, want 400", newBody(), body, w.Code, w.Body)
				continue
			}
			if want := `field "` + name + `" has the wrong type`; e.Message != want {
				t.Errorf("%T %s: message %q, want %q", newBody(), body, e.Message, want)
			}
		}
	}
}
