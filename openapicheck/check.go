package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// document is the part of an OpenAPI document the check reads.
type document struct {
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

// operation is one method of a path: its answers by status code.
type operation struct {
	Responses map[string]struct {
		Content map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// exchange is one recorded request and its answer: the format of a line of
// the -exchanges file.
type exchange struct {
	Method      string `json:"method"`       // "GET"
	Path        string `json:"path"`         // the document's path, e.g. "/files/{id}"
	URL         string `json:"url"`          // the real one, for messages
	Status      int    `json:"status"`       // 200
	ContentType string `json:"content_type"` // the Content-Type header, parameters and all
	Body        string `json:"body"`
}

// checkExchanges checks doc's schemas, then every exchange against doc,
// and returns the problems, one line each. No exchange at all is a problem
// too: a recorder that lost its recording must not pass.
func checkExchanges(doc *document, exchanges []exchange) []string {
	problems := doc.checkSchemas()
	if len(exchanges) == 0 {
		return append(problems, "no exchanges to check")
	}
	for _, x := range exchanges {
		if err := doc.checkExchange(x); err != nil {
			where := fmt.Sprintf("%s %s (%s) answered %d", strings.ToUpper(x.Method), x.Path, x.URL, x.Status)
			problems = append(problems, where+err.Error())
		}
	}
	return problems
}

// checkExchange checks x's answer against the operation it called: the
// status must be listed; an answer the document gives no content has no
// body (a redirect's short HTML aside); the media type must be listed (or
// */*); a JSON body must match the schema. The error reads on from
// "GET /path (url) answered 200".
func (doc *document) checkExchange(x exchange) error {
	op, ok := doc.Paths[x.Path][strings.ToLower(x.Method)]
	if !ok {
		return fmt.Errorf(": no such operation in the document")
	}
	r, ok := op.Responses[strconv.Itoa(x.Status)]
	if !ok {
		return fmt.Errorf(", which the document does not list; body %.300q", x.Body)
	}
	if len(r.Content) == 0 {
		if x.Body != "" && x.Status != http.StatusFound && x.Status != http.StatusSeeOther {
			return fmt.Errorf(" with a body, which the document does not describe: %.300q", x.Body)
		}
		return nil
	}
	mt, _, _ := mime.ParseMediaType(x.ContentType)
	media, ok := r.Content[mt]
	if !ok {
		media, ok = r.Content["*/*"]
	}
	if !ok {
		return fmt.Errorf(" as %q, which the document does not list", mt)
	}
	if mt != "application/json" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(x.Body), &v); err != nil {
		return fmt.Errorf(": not JSON: %v: %.300q", err, x.Body)
	}
	if err := doc.validate(media.Schema, v, "$"); err != nil {
		return fmt.Errorf(": the body does not match the document: %v; body %.500q", err, x.Body)
	}
	return nil
}

// checkSchemas lists what validate would refuse in any schema an answer
// can be checked against (the components, and each response's), so a
// keyword the check does not implement is found even in an answer that no
// test provokes.
func (doc *document) checkSchemas() []string {
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
		problems = append(problems, doc.schemaProblems(doc.Components.Schemas[name], "#/components/schemas/"+name)...)
	}
	for _, path := range slices.Sorted(maps.Keys(doc.Paths)) {
		for _, method := range slices.Sorted(maps.Keys(doc.Paths[path])) {
			responses := doc.Paths[path][method].Responses
			for _, status := range slices.Sorted(maps.Keys(responses)) {
				content := responses[status].Content
				for _, mt := range slices.Sorted(maps.Keys(content)) {
					if schema := content[mt].Schema; schema != nil {
						at := fmt.Sprintf("%s %s %s %s", strings.ToUpper(method), path, status, mt)
						problems = append(problems, doc.schemaProblems(schema, at)...)
					}
				}
			}
		}
	}
	return problems
}

// countOperations is the number of distinct operations the exchanges call.
func countOperations(exchanges []exchange) int {
	ops := map[string]bool{}
	for _, x := range exchanges {
		ops[strings.ToLower(x.Method)+" "+x.Path] = true
	}
	return len(ops)
}
