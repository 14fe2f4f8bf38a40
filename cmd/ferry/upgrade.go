package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/app"
	"github.com/ferry-proxy/ferry/internal/upgrade"
)

// Smooth upgrade (docs/upgrade.md): `ferry start -c FILE` first asks a
// ferry serving reconfig.sock in uds_dir (default: FILE's directory) for
// its listening sockets, serves them, and tells it to drain; then it
// serves reconfig.sock itself for the next upgrade. disable_upgrade: true
// or --disable-upgrade does neither. The embedded default configuration
// (no -c) has no directory of its own and never upgrades.

// takeover is a handover in progress, or nil when there is none.
type takeover struct {
	path   string
	config string // the config file, as given
	h      *upgrade.Handover
}

// absPath is path made absolute (as given if that fails), so that two
// spellings of one config file are the same config to a smooth upgrade.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}

// takeOver dials reconfig.sock. No ferry there: a nil takeover (bind as
// usual). One there that does not hand its sockets over: exit code 1 with
// the reason, and the running ferry keeps serving.
func takeOver(cfg *config.Config, path string, noUpgrade bool, log *slog.Logger, stderr io.Writer) (*takeover, int) {
	if noUpgrade {
		cfg.DisableUpgrade = true
	}
	if cfg.DisableUpgrade || path == "" {
		return nil, 0
	}
	sock := upgrade.Path(cfg.UDSDir, path)
	h, err := upgrade.DialConfig(sock, absPath(path))
	switch {
	case errors.Is(err, upgrade.ErrNoPeer):
		return &takeover{path: sock, config: path}, 0
	case err != nil:
		_, _ = fmt.Fprintf(stderr, "ferry: %v\nferry: a ferry may be running with uds_dir %q; it keeps serving. Start with "+
			"--disable-upgrade (or disable_upgrade: true) to bind without its sockets.\n", err, sock)
		return nil, 1
	}
	n := 0
	for _, l := range h.Listeners {
		n += len(l.FDs)
	}
	log.Info("smooth upgrade: took the listening sockets of the running ferry", "pid", h.Pid, "sockets", n)
	return &takeover{path: sock, config: path, h: h}, 0
}

// listeners are the sockets received, if any.
func (t *takeover) listeners() []upgrade.Listener {
	if t == nil || t.h == nil {
		return nil
	}
	return t.h.Listeners
}

// abort gives up: the old ferry keeps serving.
func (t *takeover) abort() {
	if t != nil && t.h != nil {
		t.h.Abort()
		t.h = nil
	}
}

// ready tells the old ferry that this one serves its sockets, and closes
// this process's copies (the engine holds its own).
func (t *takeover) ready(log *slog.Logger) {
	if t == nil || t.h == nil {
		return
	}
	h := t.h
	t.h = nil
	err := h.Ready()
	h.Abort() // closes the received descriptors; the exchange is over
	if err != nil {
		// Both processes accept from the same sockets until the old one
		// stops: nothing is lost, but it must be stopped by hand.
		log.Error("smooth upgrade: the old ferry did not confirm; stop it with SIGTERM", "pid", h.Pid, "err", err)
		return
	}
	log.Info("smooth upgrade: the old ferry stopped accepting and drains", "pid", h.Pid)
}

// serveUpgrade serves reconfig.sock for the next upgrade. It returns the
// channel closed once a new ferry took the listeners over, and the
// function that stops serving (idempotent).
func serveUpgrade(a *app.App, t *takeover, log *slog.Logger) (<-chan struct{}, func(), error) {
	if t == nil {
		return nil, func() {}, nil
	}
	s, err := upgrade.Serve(t.path, upgrade.ServeOptions{Listeners: a.ListenerSockets, Handover: a.HandOver, Logger: log,
		Config: absPath(t.config)})
	if err != nil {
		return nil, nil, fmt.Errorf("uds_dir: %w (disable_upgrade: true runs without smooth upgrade)", err)
	}
	log.Info("smooth upgrade: serving", "uds", t.path)
	return s.HandedOver(), func() { _ = s.Close() }, nil
}
