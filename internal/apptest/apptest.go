// Package apptest starts a whole ferry (internal/app) from a MOSN JSON
// configuration for end-to-end tests, and stops it with the test. It is
// imported only from _test.go files.
package apptest

import (
	"io"
	"log/slog"
	"testing"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/app"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Start parses, validates and starts the configuration; the test fails on
// any error. Shutdown (drain, then stop) runs at cleanup.
func Start(t testing.TB, jsonConfig []byte) *app.App {
	t.Helper()
	cfg, err := config.Parse(jsonConfig, config.FormatJSON)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	a, err := app.New(cfg, app.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	testutil.Start(t, a.Start, a.Shutdown)
	return a
}
