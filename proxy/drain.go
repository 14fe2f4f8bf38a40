package proxy

import (
	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/filterchain"
)

// A graceful stop closes keep-alive connections between requests, never
// under one: once draining is set, every HTTP/1 response carries
// Connection: close and its connection closes after it, and an HTTP/2
// connection sends GOAWAY with its next stream and closes once it has no
// stream. CloseIdle deals with the connections that have no request at
// that moment, which would otherwise wait for their idle timeout: each
// loop links its open client connections (two pointers per connection,
// no allocation) so that the drain can find them.

// link adds d to its loop's list. Loop only.
func (d *downstream) link() {
	if d.listed {
		return
	}
	ls := &d.f.srv.loops[d.c.Loop().Index]
	d.prev, d.next = nil, ls.conns
	if ls.conns != nil {
		ls.conns.prev = d
	}
	ls.conns = d
	d.listed = true
}

// unlink removes d from its loop's list. Loop only.
func (d *downstream) unlink() {
	if !d.listed {
		return
	}
	ls := &d.f.srv.loops[d.c.Loop().Index]
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		ls.conns = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	}
	d.prev, d.next, d.listed = nil, nil, false
}

// CloseIdle closes, during a drain (Drain sets it first), loop l's client
// connections that are between requests: an HTTP/1 connection with no
// request and no unread byte closes (a client that sent a request at
// this very moment sees the connection closed with no response byte,
// which HTTP clients retry for idempotent requests), and an HTTP/2
// connection with no stream sends GOAWAY and closes. It returns how many
// it closed. Loop l only (run it with l.Execute).
func (srv *Server) CloseIdle(l *conn.Loop) int {
	if !srv.draining.Load() || l.Index >= len(srv.loops) {
		return 0
	}
	n := 0
	for d := srv.loops[l.Index].conns; d != nil; {
		next := d.next // a close unlinks d
		switch {
		case d.c.Closed():
		case d.tun != nil:
			// An upgraded connection (WebSocket) relays until either side
			// closes it, or the drain timeout ends.
		case d.h2 != nil:
			if !d.h2.busy() {
				d.h2.shutdown()
				n++
			}
		case d.s == nil && d.c.InboundBuffered() == 0:
			d.stopTimer()
			d.c.Close(filterchain.CloseFlush)
			n++
		}
		d = next
	}
	return n
}

// Draining reports whether Drain has begun. Any goroutine.
func (srv *Server) Draining() bool { return srv.draining.Load() }

// StartDrain makes every response close its connection from now on,
// without waiting (Drain waits). Any goroutine.
func (srv *Server) StartDrain() { srv.draining.Store(true) }

// CloseListener drains, on loop l, the client connections of the
// listener whose drain switch is ld (a hot reload removed it; the caller
// closed its sockets first): it turns ld on, so that every HTTP/1
// response closes its connection and HTTP/2 connections send GOAWAY with
// their next stream and close once empty, then closes at once the
// connections between requests, as CloseIdle does in a stop. An upgraded
// connection relays on. With force (the drain timeout ended) every one of
// them closes now. It returns how many stay open on l. Loop only.
func (srv *Server) CloseListener(l *conn.Loop, ld *ListenerDrain, force bool) int {
	ld.on.Store(true)
	if l.Index >= len(srv.loops) {
		return 0
	}
	open := 0
	for d := srv.loops[l.Index].conns; d != nil; {
		next := d.next // a close unlinks d
		switch {
		case d.f.drain != ld || d.c.Closed():
		case force:
			d.c.Close(filterchain.CloseNow)
		case d.tun != nil:
			open++
		case d.h2 != nil:
			if !d.h2.busy() {
				d.h2.shutdown()
			} else {
				d.h2.goAway()
			}
			open++
		case d.s == nil && d.c.InboundBuffered() == 0:
			d.stopTimer()
			d.c.Close(filterchain.CloseFlush)
		default:
			open++
		}
		d = next
	}
	return open
}
