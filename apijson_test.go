package main

// Tests of how the JSON API reads request bodies (readJSON, checkFieldNames).

import (
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
