package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
)

// TestSDKLogsThroughSlog: the AWS SDK's messages arrive as records of
// Dropp's logger (here JSON), at warning level, marked as the SDK's.
func TestSDKLogsThroughSlog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logging.Logger(smithyLogger{newLogger("json", &buf)}).Logf(logging.Warn, "clock skew of %ds", 301)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %q", buf.String())
	}
	if rec["level"] != "WARN" || rec["msg"] != "clock skew of 301s" || rec["source"] != "aws-sdk" {
		t.Errorf("record = %v", rec)
	}
}

// TestLogFormat: text and json are taken, anything else is a configuration
// error naming LOG_FORMAT.
func TestLogFormat(t *testing.T) {
	t.Parallel()
	for format, want := range map[string]string{"": "*slog.TextHandler", "text": "*slog.TextHandler", "json": "*slog.JSONHandler"} {
		h, err := newLogHandler(format, &bytes.Buffer{})
		if err != nil || fmt.Sprintf("%T", h) != want {
			t.Errorf("LOG_FORMAT=%q: %s, %v; want %s", format, fmt.Sprintf("%T", h), err, want)
		}
	}
	_, err := loadConfig(testGetenv(map[string]string{"DATA_DIR": t.TempDir(), "LOG_FORMAT": "xml"}))
	if err == nil || !strings.Contains(err.Error(), `LOG_FORMAT: want text or json, got "xml"`) {
		t.Errorf("LOG_FORMAT=xml: %v", err)
	}
}
