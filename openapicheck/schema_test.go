package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// schemaDoc is a document whose only schema, File, the $ref cases refer to.
func schemaDoc(t *testing.T) *document {
	t.Helper()
	var doc document
	err := json.Unmarshal([]byte(`{"paths": {}, "components": {"schemas": {
		"File": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}}`), &doc)
	if err != nil {
		t.Fatal(err)
	}
	return &doc
}

// TestValidateKeywords: each keyword the check implements accepts a value
// that meets it and refuses one that does not, naming the problem.
func TestValidateKeywords(t *testing.T) {
	t.Parallel()
	doc := schemaDoc(t)
	cases := []struct {
		name, schema, good, bad, wantErr string
	}{
		{"type string", `{"type": "string"}`, `"a"`, `1`, "integer, want [string]"},
		{"type with null", `{"type": ["string", "null"]}`, `null`, `true`, "boolean, want [string null]"},
		{"type integer", `{"type": "integer"}`, `3`, `3.5`, "number, want [integer]"},
		{"type number takes an integer", `{"type": "number"}`, `3`, `"3"`, "string, want [number]"},
		{"type boolean", `{"type": "boolean"}`, `false`, `0`, "integer, want [boolean]"},
		{"type array", `{"type": "array"}`, `[]`, `{}`, "object, want [array]"},
		{"type object", `{"type": "object"}`, `{}`, `[]`, "array, want [object]"},
		{"properties", `{"properties": {"a": {"type": "string"}}}`, `{"a": "x", "b": 1}`, `{"a": 1}`, "$.a: integer"},
		{"required", `{"required": ["id"]}`, `{"id": "x"}`, `{"name": "x"}`, `$: no "id"`},
		{"additionalProperties false", `{"properties": {"a": {}}, "additionalProperties": false}`, `{"a": 1}`, `{"a": 1, "b": 2}`, `"b" is not in the schema`},
		{"additionalProperties schema", `{"additionalProperties": {"type": "string"}}`, `{"x": "y"}`, `{"x": 1}`, "$.x: integer, want [string]"},
		{"items", `{"items": {"type": "integer"}}`, `[1, 2]`, `[1, "2"]`, "$[1]: string"},
		{"enum", `{"enum": ["a", "b"]}`, `"b"`, `"c"`, "c is not one of [a b]"},
		{"const", `{"const": "x"}`, `"x"`, `"y"`, "y, want x"},
		{"oneOf", `{"oneOf": [{"type": "string"}, {"type": "integer"}]}`, `"a"`, `true`, "matches 0 of oneOf's schemas"},
		{"oneOf matching two", `{"oneOf": [{"type": "integer"}, {"minimum": 0}]}`, `-1`, `1`, "matches 2 of oneOf's schemas"},
		{"minimum", `{"minimum": 1}`, `1`, `0`, "0 is outside minimum 1"},
		{"maximum", `{"maximum": 10}`, `10`, `10.5`, "10.5 is outside maximum 10"},
		{"minLength counts characters", `{"minLength": 2}`, `"éé"`, `"é"`, "1 is outside minLength 2"},
		{"maxLength counts characters", `{"maxLength": 2}`, `"éé"`, `"abc"`, "3 is outside maxLength 2"},
		{"format date-time", `{"format": "date-time"}`, `"2026-11-29T23:00:00Z"`, `"yesterday"`, "is no date-time"},
		{"$ref", `{"$ref": "#/components/schemas/File"}`, `{"id": "x"}`, `{}`, `no "id"`},
		{"$ref with a description", `{"$ref": "#/components/schemas/File", "description": "d"}`, `{"id": "x"}`, `{"id": 1}`, "$.id: integer"},
		{"description and default only describe", `{"type": "integer", "description": "d", "default": 1}`, `2`, `"2"`, "string, want [integer]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if err := doc.validate(json.RawMessage(c.schema), decodeJSON(t, c.good), "$"); err != nil {
				t.Errorf("%s refuses %s: %v", c.schema, c.good, err)
			}
			err := doc.validate(json.RawMessage(c.schema), decodeJSON(t, c.bad), "$")
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s on %s: %v, want an error with %q", c.schema, c.bad, err, c.wantErr)
			}
		})
	}
}

// TestValidateRefusesWhatItDoesNotImplement: a keyword the check does not
// implement fails even on a value it would accept, so the document cannot
// outgrow the check unnoticed; so do a keyword beside $ref (which 3.1
// applies) and a $ref it cannot follow.
func TestValidateRefusesWhatItDoesNotImplement(t *testing.T) {
	t.Parallel()
	doc := schemaDoc(t)
	cases := []struct{ schema, value, wantErr string }{
		{`{"type": "string", "pattern": "^a"}`, `"a"`, `does not implement the schema keyword "pattern"`},
		{`{"properties": {"a": {"anyOf": [{}]}}}`, `{"a": 1}`, `$.a: the contract check does not implement the schema keyword "anyOf"`},
		{`{"$ref": "#/components/schemas/File", "maxLength": 3}`, `{"id": "x"}`, `"maxLength" beside $ref`},
		{`{"$ref": "#/components/schemas/Nope"}`, `{}`, `unknown $ref "#/components/schemas/Nope"`},
		{`{"$ref": "other.json#/File"}`, `{}`, `unknown $ref "other.json#/File"`},
		{`[]`, `{}`, "bad schema"},
	}
	for _, c := range cases {
		err := doc.validate(json.RawMessage(c.schema), decodeJSON(t, c.value), "$")
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s on %s: %v, want an error with %q", c.schema, c.value, err, c.wantErr)
		}
	}
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}
