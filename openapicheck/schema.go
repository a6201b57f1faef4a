package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// validate checks v against schema. It implements the part of JSON Schema
// that Dropp's openapi.json uses ($ref, type with null, properties,
// required, additionalProperties, items, enum, const, oneOf, minimum,
// maximum, minLength, maxLength, format date-time), and fails on any other
// keyword so the document cannot silently outgrow the check.
func (doc *document) validate(raw json.RawMessage, v any, at string) error {
	var s map[string]json.RawMessage
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: bad schema: %v", at, err)
	}
	if err := implemented(s, at); err != nil {
		return err
	}
	if r, ok := s["$ref"]; ok {
		return doc.validateRef(r, v, at)
	}
	if alts, ok := s["oneOf"]; ok {
		var subs []json.RawMessage
		json.Unmarshal(alts, &subs)
		matches := 0
		for _, sub := range subs {
			if doc.validate(sub, v, at) == nil {
				matches++
			}
		}
		if matches != 1 {
			return fmt.Errorf("%s: matches %d of oneOf's schemas, want 1", at, matches)
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		if json.Unmarshal(t, &types) != nil {
			var one string
			json.Unmarshal(t, &one)
			types = []string{one}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: %s, want %v", at, jsonType(v), types)
		}
	}
	if e, ok := s["enum"]; ok {
		var vals []any
		json.Unmarshal(e, &vals)
		if !slices.Contains(vals, v) {
			return fmt.Errorf("%s: %v is not one of %v", at, v, vals)
		}
	}
	if e, ok := s["const"]; ok {
		var want any
		json.Unmarshal(e, &want)
		if v != want {
			return fmt.Errorf("%s: %v, want %v", at, v, want)
		}
	}
	return doc.validateValue(s, v, at)
}

// validateRef checks v against the schema r refers to.
func (doc *document) validateRef(r json.RawMessage, v any, at string) error {
	sub, err := doc.resolve(r, at)
	if err != nil {
		return err
	}
	return doc.validate(sub, v, at)
}

// resolve finds the schema a $ref names: only "#/components/schemas/"
// references are followed.
func (doc *document) resolve(r json.RawMessage, at string) (json.RawMessage, error) {
	var ref string
	json.Unmarshal(r, &ref)
	name, ok := strings.CutPrefix(ref, "#/components/schemas/")
	sub, found := doc.Components.Schemas[name]
	if !ok || !found {
		return nil, fmt.Errorf("%s: unknown $ref %q", at, ref)
	}
	return sub, nil
}

// implemented fails on a keyword of s that validate does not implement.
// In OpenAPI 3.1 the keywords beside a $ref apply too, which validate
// would not do, so any but a description is refused there.
func implemented(s map[string]json.RawMessage, at string) error {
	_, isRef := s["$ref"]
	for k := range s {
		switch {
		case isRef && k != "$ref" && k != "description":
			return fmt.Errorf("%s: the contract check does not implement the schema keyword %q beside $ref", at, k)
		case !isRef && !slices.Contains(schemaKeywords, k):
			return fmt.Errorf("%s: the contract check does not implement the schema keyword %q", at, k)
		}
	}
	return nil
}

// schemaProblems walks the schema raw and the ones inside it for what
// validate would refuse whatever the value: a keyword it does not
// implement, a $ref it cannot follow. validate finds these only in the
// parts of a schema an answer reaches; this finds them everywhere.
func (doc *document) schemaProblems(raw json.RawMessage, at string) []string {
	var s map[string]json.RawMessage
	if err := json.Unmarshal(raw, &s); err != nil {
		return []string{fmt.Sprintf("%s: bad schema: %v", at, err)}
	}
	if err := implemented(s, at); err != nil {
		return []string{err.Error()}
	}
	if r, ok := s["$ref"]; ok {
		if _, err := doc.resolve(r, at); err != nil {
			return []string{err.Error()}
		}
		return nil
	}
	var problems []string
	var props map[string]json.RawMessage
	json.Unmarshal(s["properties"], &props)
	for _, name := range slices.Sorted(maps.Keys(props)) {
		problems = append(problems, doc.schemaProblems(props[name], at+".properties."+name)...)
	}
	if items, ok := s["items"]; ok {
		problems = append(problems, doc.schemaProblems(items, at+".items")...)
	}
	if extra, ok := s["additionalProperties"]; ok && string(extra) != "true" && string(extra) != "false" {
		problems = append(problems, doc.schemaProblems(extra, at+".additionalProperties")...)
	}
	var alts []json.RawMessage
	json.Unmarshal(s["oneOf"], &alts)
	for i, alt := range alts {
		problems = append(problems, doc.schemaProblems(alt, fmt.Sprintf("%s.oneOf[%d]", at, i))...)
	}
	return problems
}

// validateValue applies the keywords that depend on v's type.
func (doc *document) validateValue(s map[string]json.RawMessage, v any, at string) error {
	switch v := v.(type) {
	case string:
		if f, ok := s["format"]; ok && string(f) == `"date-time"` {
			if _, err := time.Parse(time.RFC3339, v); err != nil {
				return fmt.Errorf("%s: %q is no date-time", at, v)
			}
		}
		if err := checkBound(s, "minLength", float64(len([]rune(v))), at, 1); err != nil {
			return err
		}
		return checkBound(s, "maxLength", float64(len([]rune(v))), at, -1)
	case float64:
		if err := checkBound(s, "minimum", v, at, 1); err != nil {
			return err
		}
		return checkBound(s, "maximum", v, at, -1)
	case []any:
		if items, ok := s["items"]; ok {
			for i, el := range v {
				if err := doc.validate(items, el, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		return doc.validateObject(s, v, at)
	}
	return nil
}

// validateObject applies required, properties and additionalProperties
// (absent or true: any extra property; false: none; a schema: each extra
// one must match it).
func (doc *document) validateObject(s map[string]json.RawMessage, v map[string]any, at string) error {
	var required []string
	json.Unmarshal(s["required"], &required)
	for _, name := range required {
		if _, ok := v[name]; !ok {
			return fmt.Errorf("%s: no %q", at, name)
		}
	}
	var props map[string]json.RawMessage
	json.Unmarshal(s["properties"], &props)
	for name, val := range v {
		sub, ok := props[name]
		if !ok {
			extra, has := s["additionalProperties"]
			switch {
			case !has || string(extra) == "true":
				continue
			case string(extra) == "false":
				return fmt.Errorf("%s: %q is not in the schema", at, name)
			}
			sub = extra
		}
		if err := doc.validate(sub, val, at+"."+name); err != nil {
			return err
		}
	}
	return nil
}

// schemaKeywords are the schema keywords validate implements, or that
// only describe.
var schemaKeywords = []string{"type", "properties", "required", "additionalProperties", "items", "enum", "const",
	"oneOf", "minimum", "maximum", "minLength", "maxLength", "format", "description", "default"}

// checkBound checks v against the bound keyword of s, if any: sign 1 for a
// lower bound, -1 for an upper one.
func checkBound(s map[string]json.RawMessage, keyword string, v float64, at string, sign float64) error {
	raw, ok := s[keyword]
	if !ok {
		return nil
	}
	var bound float64
	json.Unmarshal(raw, &bound)
	if (v-bound)*sign < 0 {
		return fmt.Errorf("%s: %v is outside %s %v", at, v, keyword, bound)
	}
	return nil
}

// jsonType is the JSON Schema type of a decoded JSON value.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	default:
		return "object"
	}
}
