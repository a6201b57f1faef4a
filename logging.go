package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/smithy-go/logging"
)

// newLogHandler is the handler LOG_FORMAT names: "text" (slog's key=value
// lines) or "json" (one object per line, for log shippers).
func newLogHandler(format string, w io.Writer) (slog.Handler, error) {
	switch format {
	case "", "text":
		return slog.NewTextHandler(w, nil), nil
	case "json":
		return slog.NewJSONHandler(w, nil), nil
	}
	return nil, fmt.Errorf("want text or json, got %q", format)
}

// newLogger is run's logger. It is made before the configuration is read
// (so that warnings about misspelt settings are logged), hence an unknown
// LOG_FORMAT falls back to text here and loadConfig reports it.
func newLogger(format string, w io.Writer) *slog.Logger {
	h, err := newLogHandler(format, w)
	if err != nil {
		h = slog.NewTextHandler(w, nil)
	}
	return slog.New(h)
}

// smithyLogger passes the AWS SDK's own messages (retries, clock skew,
// response checksum warnings) to Dropp's logger, so they arrive in
// LOG_FORMAT with the rest rather than as raw lines on stderr.
type smithyLogger struct{ log *slog.Logger }

// Logf implements logging.Logger: the SDK's WARN is a warning, DEBUG a debug line.
func (l smithyLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelWarn
	if c == logging.Debug {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
}
