package main

// How pages and messages show sizes, times and counts to people.

import (
	"fmt"
	"strconv"
	"time"
)

// humanSize writes a byte count as every page shows one: "512 bytes", and
// above that the binary units the rest of Dropp shows ("3.4 MiB",
// humanBytes). (app.js's formatSize writes the same.)
func humanSize(n int64) string {
	if n < 1024 {
		return plural(n, "byte")
	}
	return humanBytes(n)
}

// humanTime writes an instant as every page shows one, in UTC so that it
// reads the same to everyone: "7 Dec 2026 14:05 UTC". (app.js's
// formatDate writes the same.)
func humanTime(t time.Time) string {
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

// plural writes n and a noun, in the plural unless n is 1.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

// humanBytes writes n in binary units with one decimal: "512 B", "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
