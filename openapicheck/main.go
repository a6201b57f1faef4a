// Command openapicheck checks recorded HTTP exchanges against an OpenAPI
// document: the server's tests record what they send and get, and run this
// on the recording, so the validator lives in test tooling and never in the
// server's binary.
//
//	openapicheck -spec openapi.json -exchanges FILE
//
// FILE holds one JSON object per line (see exchange). openapicheck prints
// one line per problem and exits 1 if there is any, else a one-line summary
// and exits 0. It exits 2 when it cannot read its input.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command, callable from tests; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("openapicheck", flag.ContinueOnError)
	flags.SetOutput(stderr)
	specPath := flags.String("spec", "", "the OpenAPI document (JSON)")
	exchangesPath := flags.String("exchanges", "", "the recorded exchanges, one JSON object per line")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *specPath == "" || *exchangesPath == "" || flags.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: openapicheck -spec openapi.json -exchanges FILE")
		return 2
	}
	doc, err := readDocument(*specPath)
	if err != nil {
		fmt.Fprintln(stderr, "openapicheck:", err)
		return 2
	}
	exchanges, err := readExchanges(*exchangesPath)
	if err != nil {
		fmt.Fprintln(stderr, "openapicheck:", err)
		return 2
	}
	problems := checkExchanges(doc, exchanges)
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "%d exchanges, %d operations\n", len(exchanges), countOperations(exchanges))
	return 0
}

// readDocument reads the OpenAPI document at path.
func readDocument(path string) (*document, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Paths) == 0 {
		return nil, fmt.Errorf("%s: no paths", path)
	}
	return &doc, nil
}

// readExchanges reads the JSON-lines file at path. An unknown field is an
// error: a recorder that misspells one would otherwise be checked on
// zero values.
func readExchanges(path string) ([]exchange, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var exchanges []exchange
	for {
		var x exchange
		err := dec.Decode(&x)
		if errors.Is(err, io.EOF) {
			return exchanges, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: exchange %d: %w", path, len(exchanges)+1, err)
		}
		exchanges = append(exchanges, x)
	}
}
