package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
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

// AdminSocket names the admin API's socket among the sockets handed
// over; listener names cannot be empty, so none is taken for it.
const AdminSocket = "@admin"

// sinkSocket prefixes the address of a metrics sink's socket among the
// sockets handed over.
const sinkSocket = "@metrics "

// upgradeState holds what a smooth upgrade passes beside the listeners.
type upgradeState struct {
	// adminFD is the inherited admin API socket (a copy of ours), or 0.
	adminFD int
	// sinkFDs are the inherited metrics sinks' sockets by address.
	sinkFDs map[string]int
}

// dupFD duplicates fd, close on exec.
func dupFD(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	c, err := syscall.Dup(fd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(c)
	return c, nil
}

// sinkListener is the inherited socket of the sink at addr, or a new
// one.
func (a *App) sinkListener(addr string) (net.Listener, error) {
	if fd, ok := a.up.sinkFDs[addr]; ok {
		delete(a.up.sinkFDs, addr)
		if ln := fileListener(fd, a); ln != nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", addr)
}

// fileListener makes a listener of fd, which it closes (nil on failure).
func fileListener(fd int, a *App) net.Listener {
	f := os.NewFile(uintptr(fd), "inherited") // a descriptor is not negative
	defer f.Close()                           //nolint:errcheck // FileListener took its own copy
	ln, err := net.FileListener(f)
	if err != nil {
		a.log.Warn("upgrade: an inherited socket is unusable; binding the address", "err", err)
		return nil
	}
	return ln
}

// inherited matches the sockets a running ferry handed over to this
// App's listeners, in order, by name. The admin API's socket is kept
// for Start when this App's admin address is the same.
func (a *App) inherited(all []upgrade.Listener) ([][]int, error) {
	var ls []upgrade.Listener
	for _, l := range all {
		if strings.HasPrefix(l.Name, sinkSocket) {
			continue
		}
		if l.Name != AdminSocket {
			ls = append(ls, l)
			continue
		}
		if len(l.FDs) == 1 && l.Address == a.adminAddr && a.up.adminFD == 0 {
			fd, err := dupFD(l.FDs[0])
			if err != nil {
				return nil, fmt.Errorf("upgrade: the admin API's socket: %w", err)
			}
			a.up.adminFD = fd
		}
	}
	for _, l := range all {
		addr, ok := strings.CutPrefix(l.Name, sinkSocket)
		if !ok || len(l.FDs) != 1 || a.up.sinkFDs[addr] != 0 {
			continue
		}
		for _, s := range a.metrics.sinks {
			if s.addr == addr {
				fd, err := dupFD(l.FDs[0])
				if err != nil {
					return nil, fmt.Errorf("upgrade: the metrics sink's socket at %s: %w", addr, err)
				}
				if a.up.sinkFDs == nil {
					a.up.sinkFDs = map[string]int{}
				}
				a.up.sinkFDs[addr] = fd
				break
			}
		}
	}
	names := func(n int, name func(int) string) string {
		out := make([]string, n)
		for i := range out {
			out[i] = name(i)
		}
		return "[" + strings.Join(out, " ") + "]"
	}
	// By name: a listener a reload added runs after the configured ones
	// in the running ferry, wherever the config file has it.
	byName := make(map[string][]int, len(ls))
	for _, l := range ls {
		byName[l.Name] = l.FDs
	}
	out := make([][]int, len(a.listeners))
	for i, l := range a.listeners {
		out[i] = byName[l.Name]
	}
	have := names(len(ls), func(i int) string { return ls[i].Name })
	want := names(len(a.listeners), func(i int) string { return a.listeners[i].Name })
	if len(ls) != len(a.listeners) || slices.ContainsFunc(out, func(fds []int) bool { return fds == nil }) {
		return nil, fmt.Errorf("upgrade: the running ferry hands over the listeners %s and this configuration has %s: "+
			"a smooth upgrade keeps the listeners (stop the running ferry first, or start with disable_upgrade)", have, want)
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
	out := make([]upgrade.Listener, 0, len(fds))
	for i, l := range a.eng.Listeners() {
		if l.Removed() || l.Spare() {
			continue // a reload removed it (the new ferry's config has it no more), or an unused slot
		}
		out = append(out, upgrade.Listener{Name: l.Name, Address: l.Address, FDs: fds[i]})
	}
	if a.admin != nil {
		if fd, err := dupListener(a.admin.Listener()); err == nil {
			out = append(out, upgrade.Listener{Name: AdminSocket, Address: a.adminAddr, FDs: []int{fd}})
		} else {
			a.log.Warn("upgrade: the admin API's socket stays here; the new ferry binds its own", "err", err)
		}
	}
	for _, s := range a.metrics.sinks {
		if s.srv == nil || s.ln == nil {
			continue
		}
		if fd, err := dupListener(s.ln); err == nil {
			out = append(out, upgrade.Listener{Name: sinkSocket + s.addr, Address: s.addr, FDs: []int{fd}})
		} else {
			a.log.Warn("upgrade: a metrics sink's socket stays here; the new ferry binds its own", "err", err)
		}
	}
	return out, nil
}

// dupListener duplicates a Go listener's socket (close on exec).
func dupListener(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if fd, derr = syscall.Dup(int(s)); derr == nil { // a descriptor fits an int
			syscall.CloseOnExec(fd)
		}
	}); err != nil {
		return -1, err
	}
	return fd, derr
}

// inheritedAdmin is the admin API's inherited socket as a listener, or
// nil (Start binds the address then).
func (a *App) inheritedAdmin() net.Listener {
	fd := a.up.adminFD
	if fd == 0 {
		return nil
	}
	a.up.adminFD = 0
	return fileListener(fd, a)
}

// HandOver stops accepting because a new ferry accepts from the same
// sockets now; the caller then shuts down as on SIGTERM. Any goroutine.
func (a *App) HandOver() error {
	n, err := a.eng.StopAccepting()
	if err != nil {
		return err
	}
	a.log.Info("listening sockets handed over; no longer accepting", "sockets", n)
	if a.admin != nil {
		// The new ferry serves the admin API on the same socket now.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.admin.Close(ctx); err != nil {
			a.log.Warn("closing the admin API after the handover", "err", err)
		}
		a.admin = nil
	}
	// So do the metrics sinks.
	for _, s := range a.metrics.sinks {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.close(ctx); err != nil {
			a.log.Warn("closing a metrics sink after the handover", "err", err)
		}
		cancel()
		s.srv = nil // closed: Shutdown's closeSinks skips it
	}
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
