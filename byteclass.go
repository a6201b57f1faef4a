package main

// Byte classes: the validators of client-supplied tokens, keys and names
// say with them which bytes they allow.

import "strings"

// allBytes reports whether ok holds for every byte of s: the validators of
// client-supplied tokens and names say with it which bytes they allow.
func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// alnumOr is a byte class for allBytes: ASCII letters and digits, and the
// bytes in extra.
func alnumOr(extra string) func(byte) bool {
	return func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0
	}
}
