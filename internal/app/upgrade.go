package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/internal/upgrade"
)

// Graceful stop and smooth upgrade (docs/upgrade.md, docs/operations.md).
//
// Shutdown first takes the listening sockets off the engine
// (eventloop.Engine.StopAccepting): from then on the kernel refuses new
// connections, or a new ferry that holds the same sockets accepts them.
// Then it drains: every response closes its connection (HTTP/1
// Connection: close, HTTP/2 GOAWAY), connections between requests close
// at once (proxy.Server.CloseIdle), in-flight requests finish, and the
// engine stops once no client connection is left or the drain timeout
// ends.

// inherited matches the sockets a running ferry handed over to this
// App's listeners, in order, by name.
func (a *App) inherited(ls []upgrade.Listener) ([][]int, error) {
	names := func(n int, name func(int) string) string {
		out := make([]string, n)
		for i := range out {
			out[i] = name(i)
		}
		return "[" + strings.Join(out, " ") + "]"
	}
	have := names(len(ls), func(i int) string { return ls[i].Name })
	want := names(len(a.listeners), func(i int) string { return a.listeners[i].Name })
	if have != want {
		return nil, fmt.Errorf("upgrade: the running ferry hands over the listeners %s and this configuration has %s: "+
			"a smooth upgrade keeps the listeners (stop the running ferry first, or start with disable_upgrade)", have, want)
	}
	out := make([][]int, len(ls))
	for i, l := range ls {
		out[i] = l.FDs
	}
	return out, nil
}

// ListenerSockets returns copies of the listening sockets for a new
// ferry (internal/upgrade); the caller closes them. Control goroutine.
func (a *App) ListenerSockets() ([]upgrade.Listener, error) {
	fds, err := a.eng.ListenerFiles()
	if err != nil {
		return nil, err
	}
	out := make([]upgrade.Listener, len(fds))
	for i, l := range a.listeners {
		out[i] = upgrade.Listener{Name: l.Name, Address: l.Address, FDs: fds[i]}
	}
	return out, nil
}

// HandOver stops accepting because a new ferry accepts from the same
// sockets now; the caller then shuts down as on SIGTERM. Any goroutine.
func (a *App) HandOver() error {
	n, err := a.eng.StopAccepting()
	if err != nil {
		return err
	}
	a.log.Info("listening sockets handed over; no longer accepting", "sockets", n)
	return nil
}

// stopAccepting closes the listening sockets, keeping every connection
// (a no-op after HandOver). Where that is impossible (no /proc), the
// engine accepts and closes new connections instead, as ferry did before.
func (a *App) stopAccepting() {
	n, err := a.eng.StopAccepting()
	if err != nil {
		a.log.Warn("cannot close the listening sockets under gnet; new connections are accepted and closed "+
			"during the drain", "err", err)
		a.eng.SetDraining()
		return
	}
	if n > 0 {
		a.log.Info("listening sockets closed", "sockets", n)
	}
}

// drainConns drains until no client connection is left or ctx ends.
func (a *App) drainConns(ctx context.Context) error {
	a.srv.StartDrain()
	for _, l := range a.eng.Loops() {
		_ = l.Execute(func() { a.srv.CloseIdle(l) }) // fails only once the engine stops
	}
	if err := a.srv.Drain(ctx); err != nil {
		return err
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		n := a.tracker.Downstream.Load()
		if n <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d client connections still open: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}
