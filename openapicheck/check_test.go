package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testSpec is a small document with each kind of answer the check tells
// apart: JSON with a schema, no content, a redirect, another media type
// and any media type.
const testSpec = `{
  "paths": {
    "/files/{id}": {
      "get": {"responses": {
        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/File"}}}},
        "404": {"content": {"application/json": {"schema": {"type": "object", "required": ["error"]}}}}}},
      "delete": {"responses": {"204": {}}}
    },
    "/download/{id}": {"get": {"responses": {"302": {}}}},
    "/app.js": {"get": {"responses": {"200": {"content": {"text/javascript": {}}}}}},
    "/objects/{key}": {"get": {"responses": {"200": {"content": {"*/*": {}}}}}}
  },
  "components": {"schemas": {"File": {"type": "object", "required": ["id"], "additionalProperties": false,
    "properties": {"id": {"type": "string"}, "size": {"type": "integer", "minimum": 0}}}}}
}`

func testDocument(t *testing.T) *document {
	t.Helper()
	var doc document
	if err := json.Unmarshal([]byte(testSpec), &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// TestCheckExchanges: each exchange is accepted, or refused with a line
// that names the call and the problem.
func TestCheckExchanges(t *testing.T) {
	t.Parallel()
	doc := testDocument(t)
	file := exchange{Method: "GET", Path: "/files/{id}", URL: "/files/f1", Status: 200,
		ContentType: "application/json; charset=utf-8", Body: `{"id": "f1", "size": 3}`}
	with := func(change func(*exchange)) exchange {
		x := file
		change(&x)
		return x
	}
	cases := []struct {
		name    string
		x       exchange
		wantErr string // "" for accepted
	}{
		{"a file", file, ""},
		{"the method in any case", with(func(x *exchange) { x.Method = "get" }), ""},
		{"a documented error", with(func(x *exchange) { x.Status, x.Body = 404, `{"error": "not_found"}` }), ""},
		{"no content", exchange{Method: "DELETE", Path: "/files/{id}", URL: "/files/f1", Status: 204}, ""},
		{"a redirect's short body", exchange{Method: "GET", Path: "/download/{id}", URL: "/download/f1", Status: 302,
			ContentType: "text/html; charset=utf-8", Body: `<a href="/x">Found</a>.`}, ""},
		{"another listed media type", exchange{Method: "GET", Path: "/app.js", URL: "/app.js", Status: 200,
			ContentType: "text/javascript; charset=utf-8", Body: "let a = 1;"}, ""},
		{"any media type", exchange{Method: "GET", Path: "/objects/{key}", URL: "/objects/k", Status: 200,
			ContentType: "application/octet-stream", Body: "\x00\x01"}, ""},

		{"no such operation", with(func(x *exchange) { x.Method = "PUT" }),
			"PUT /files/{id} (/files/f1) answered 200: no such operation in the document"},
		{"no such path", with(func(x *exchange) { x.Path = "/file/{id}" }), "no such operation"},
		{"an undocumented status", with(func(x *exchange) { x.Status, x.Body = 418, "teapot" }),
			`GET /files/{id} (/files/f1) answered 418, which the document does not list; body "teapot"`},
		{"a body on a no-content answer", exchange{Method: "DELETE", Path: "/files/{id}", URL: "/files/f1", Status: 204,
			Body: "gone"}, `answered 204 with a body, which the document does not describe: "gone"`},
		{"a wrong media type", with(func(x *exchange) { x.ContentType = "text/plain" }),
			`answered 200 as "text/plain", which the document does not list`},
		{"no media type", with(func(x *exchange) { x.ContentType = "" }), `as "", which the document does not list`},
		{"a body that is not JSON", with(func(x *exchange) { x.Body = "{" }), "not JSON"},
		{"a body without a required property", with(func(x *exchange) { x.Body = `{"size": 3}` }),
			`the body does not match the document: $: no "id"`},
		{"a body with a property too many", with(func(x *exchange) { x.Body = `{"id": "f1", "owner": "u"}` }),
			`$: "owner" is not in the schema`},
		{"a body with a bad value", with(func(x *exchange) { x.Body = `{"id": "f1", "size": -1}` }),
			"$.size: -1 is outside minimum 0"},
		{"an error without its code", with(func(x *exchange) { x.Status, x.Body = 404, `{}` }), `$: no "error"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			problems := checkExchanges(doc, []exchange{c.x})
			switch {
			case c.wantErr == "" && len(problems) != 0:
				t.Errorf("refused: %q", problems)
			case c.wantErr != "" && (len(problems) != 1 || !strings.Contains(problems[0], c.wantErr)):
				t.Errorf("problems %q, want one with %q", problems, c.wantErr)
			}
		})
	}
}

// TestCheckExchangesNeedsSome: an empty recording is a problem, so a test
// that lost what it recorded cannot pass.
func TestCheckExchangesNeedsSome(t *testing.T) {
	t.Parallel()
	if problems := checkExchanges(testDocument(t), nil); len(problems) != 1 {
		t.Errorf("no exchanges: %q", problems)
	}
}

// TestRun runs the command on files: exit 0 and a summary, 1 and a line per
// problem, 2 when the input cannot be read.
func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := writeFile(t, dir, "openapi.json", testSpec)
	good := `{"method":"GET","path":"/files/{id}","url":"/files/a","status":200,"content_type":"application/json","body":"{\"id\":\"a\"}"}
{"method":"GET","path":"/files/{id}","url":"/files/b","status":404,"content_type":"application/json","body":"{\"error\":\"not_found\"}"}
{"method":"DELETE","path":"/files/{id}","url":"/files/a","status":204,"content_type":"","body":""}
`
	bad := good + `{"method":"GET","path":"/files/{id}","url":"/files/c","status":200,"content_type":"application/json","body":"{}"}
{"method":"GET","path":"/files/{id}","url":"/files/d","status":500,"content_type":"application/json","body":"{}"}
`
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // lines of stdout
		wantStderr string
	}{
		{"all match", []string{"-spec", spec, "-exchanges", writeFile(t, dir, "good.jsonl", good)}, 0,
			[]string{"3 exchanges, 2 operations"}, ""},
		{"two problems", []string{"-spec", spec, "-exchanges", writeFile(t, dir, "bad.jsonl", bad)}, 1,
			[]string{`GET /files/{id} (/files/c) answered 200: the body does not match the document: $: no "id"; body "{}"`,
				`GET /files/{id} (/files/d) answered 500, which the document does not list; body "{}"`}, ""},
		{"empty", []string{"-spec", spec, "-exchanges", writeFile(t, dir, "empty.jsonl", "")}, 1,
			[]string{"no exchanges to check"}, ""},
		{"a misspelt field", []string{"-spec", spec, "-exchanges", writeFile(t, dir, "typo.jsonl", `{"method":"GET","stauts":200}`)}, 2,
			nil, `exchange 1: json: unknown field "stauts"`},
		{"no spec", []string{"-spec", filepath.Join(dir, "nope.json"), "-exchanges", filepath.Join(dir, "good.jsonl")}, 2,
			nil, "nope.json"},
		{"a spec without paths", []string{"-spec", writeFile(t, dir, "empty.json", "{}"), "-exchanges", filepath.Join(dir, "good.jsonl")}, 2,
			nil, "no paths"},
		{"no arguments", nil, 2, nil, "usage: openapicheck -spec openapi.json -exchanges FILE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, &stdout, &stderr)
			if code != c.wantCode {
				t.Errorf("exit %d, want %d; stdout %q, stderr %q", code, c.wantCode, stdout.String(), stderr.String())
			}
			if want := strings.Join(c.wantOut, "\n"); strings.TrimSuffix(stdout.String(), "\n") != want {
				t.Errorf("stdout %q, want %q", stdout.String(), want)
			}
			if !strings.Contains(stderr.String(), c.wantStderr) {
				t.Errorf("stderr %q, want %q in it", stderr.String(), c.wantStderr)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckSchemasEverywhere: a keyword the check does not implement, or a
// $ref it cannot follow, is found in a schema no exchange reaches (an
// error answer, a component, an alternative of oneOf), not only in the
// part of a schema an answer's value walks through.
func TestCheckSchemasEverywhere(t *testing.T) {
	t.Parallel()
	var doc document
	err := json.Unmarshal([]byte(`{
  "paths": {"/files/{id}": {"get": {"responses": {
    "200": {"content": {"application/json": {"schema": {"type": "object"}}}},
    "500": {"content": {"application/json": {"schema": {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[a-z]+$"}}}}}},
    "503": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}}}}}},
  "components": {"schemas": {
    "Unused": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer", "multipleOf": 2}]}},
    "Map": {"additionalProperties": {"$ref": "#/components/schemas/Unused", "maxItems": 1}}}}
}`), &doc)
	if err != nil {
		t.Fatal(err)
	}
	x := exchange{Method: "GET", Path: "/files/{id}", URL: "/files/f1", Status: 200, ContentType: "application/json", Body: "{}"}
	got := checkExchanges(&doc, []exchange{x})
	want := []string{
		`#/components/schemas/Map.additionalProperties: the contract check does not implement the schema keyword "maxItems" beside $ref`,
		`#/components/schemas/Unused.items.oneOf[1]: the contract check does not implement the schema keyword "multipleOf"`,
		`GET /files/{id} 500 application/json.properties.code: the contract check does not implement the schema keyword "pattern"`,
		`GET /files/{id} 503 application/json: unknown $ref "#/components/schemas/Gone"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
