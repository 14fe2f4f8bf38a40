package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestPackagingBuildsWhatCITests: the Dockerfile builds the binary with
// make build (the target make test runs, so CI compiles what the image
// ships), and the systemd unit validates before start, reloads with
// SIGHUP and stops with SIGTERM.
func TestPackagingBuildsWhatCITests(t *testing.T) {
	read := func(p string) string { return testutil.ReadFile(t, filepath.Join("..", "..", p)) }
	docker := read("Dockerfile")
	if !strings.Contains(docker, "RUN make build") || strings.Contains(docker, "go build") {
		t.Error("the Dockerfile must build with `make build`, not a go build line of its own")
	}
	mk := read("Makefile")
	if !strings.Contains(mk, "\ntest: deps build") {
		t.Error("make test must build the binary the Dockerfile ships")
	}
	unit := read("packaging/ferry.service")
	testutil.Contains(t, "ferry.service", unit,
		"ExecStartPre=/usr/local/bin/ferry validate -c /etc/ferry/ferry.json",
		"ExecStart=/usr/local/bin/ferry start -c /etc/ferry/ferry.json",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"KillSignal=SIGTERM",
	)
}
