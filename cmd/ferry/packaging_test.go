package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackagingBuildsWhatCITests: the Dockerfile builds the binary with
// make build (the target make test runs, so CI compiles what the image
// ships), and the systemd unit validates before start, reloads with
// SIGHUP and stops with SIGTERM.
func TestPackagingBuildsWhatCITests(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	docker := read("Dockerfile")
	if !strings.Contains(docker, "RUN make build") || strings.Contains(docker, "go build") {
		t.Error("the Dockerfile must build with `make build`, not a go build line of its own")
	}
	mk := read("Makefile")
	if !strings.Contains(mk, "\ntest: deps build") {
		t.Error("make test must build the binary the Dockerfile ships")
	}
	unit := read("packaging/ferry.service")
	for _, want := range []string{
		"ExecStartPre=/usr/local/bin/ferry validate -c /etc/ferry/ferry.json",
		"ExecStart=/usr/local/bin/ferry start -c /etc/ferry/ferry.json",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"KillSignal=SIGTERM",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("ferry.service lacks %q", want)
		}
	}
}
