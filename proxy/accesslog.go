package proxy

import (
	"time"

	"github.com/ferry-proxy/ferry/internal/accesslog"
)

// AccessLogger receives each request's access log entry at its end: the
// listener's access_logs (internal/accesslog's Logger). Log is called on
// the stream's loop; it must not block, and must keep nothing of the
// entry, which the stream reuses.
type AccessLogger interface {
	Log(e *accesslog.Entry)
}

// accessState is what a stream keeps for its access log line that the
// rest of the stream does not: when it began and reached each stage, the
// status a reply of ferry's sent, and the failure answered. Its start is
// zero when the listener logs nothing, and then nothing else is set but
// a reply's status and body length, and the failure (a store each).
type accessState struct {
	start     time.Time     // begin (lifecycle.go); zero when not logging
	headSent  time.Duration // the request head written upstream
	respHead  time.Duration // the response head read from the upstream
	upLocal   string        // ferry's address on the upstream connection
	status    int           // the status of a reply ferry made itself (writeReply)
	replyBody int           // that reply's body length
	failure   Kind          // the failure answered (fail), or 0
}

// mark records, when logging, the time since start into *at.
func (a *accessState) mark(at *time.Duration) {
	if !a.start.IsZero() {
		*at = time.Since(a.start)
	}
}

// sent records, when logging, that the request head went upstream on
// s.pc: when, and from which local address (the connection may go back to
// its pool before End).
func (a *accessState) sent(s *stream) {
	if a.start.IsZero() {
		return
	}
	a.headSent = time.Since(a.start)
	a.upLocal = s.pc.Handler.localAddr()
}

// logs reports whether the stream's listener writes access logs (a
// stream of the lifecycle tests has no downstream).
func (s *stream) logs() bool { return s.d != nil && s.d.f.alog != nil }

// Protocol names as MOSN writes them in protocol.
const (
	logHTTP1 = "Http1"
	logHTTP2 = "Http2"
)

// logAccess fills the stream's access log entry from what the stream
// holds and hands it to the listener's logger. The strings are held by
// the connections, the cluster and the host (an address is formatted once
// per connection), the byte slices by the stream's request: nothing is
// allocated per request. Loop only, at End or when an abort finishes.
func (s *stream) logAccess() {
	a := &s.al
	if a.start.IsZero() {
		return // begun before the listener logged: never, but cheap to say
	}
	now := time.Since(a.start)
	e := &s.alEntry
	*e = accesslog.Entry{
		Start:            a.start,
		RequestReceived:  a.headSent,
		ResponseReceived: a.respHead,
		Duration:         now,
		BytesReceived:    uint64(len(s.head)) + uint64(max(s.reqTotal, 0)),
		BytesSent:        uint64(max(s.respPipe.total, 0)),
		Protocol:         logHTTP1,
		ResponseCode:     a.status,
		Method:           s.req.Bytes(s.req.Method),
		URI:              s.req.Bytes(s.req.Target),
		RequestHeaders:   &s.reqHdrs,
	}
	if s.h2 != nil {
		e.Protocol = logHTTP2
		e.BytesReceived = uint64(max(s.reqTotal, 0)) // the head came as HPACK, not these bytes
	}
	if s.tun != nil { // an upgrade: the heads and the tunnel's bytes (upgrade.go)
		e.BytesReceived, e.BytesSent = s.tunnelBytes()
	}
	if s.respSent && s.respState == stateDone {
		e.RequestFinished = now
	}
	if a.status == 0 && s.respSent {
		e.ResponseCode = s.resp.Status
	}
	if len(s.respHead) > 0 && a.status == 0 {
		e.ResponseHeaders = &s.respHdrs
	}
	switch {
	case a.status == 0:
	case s.h2 == nil:
		e.BytesSent = uint64(len(s.out)) // the reply, head and body, in one write
	case !s.req.IsHead():
		e.BytesSent = uint64(a.replyBody) // the DATA of the reply
	default:
		e.BytesSent = 0
	}
	if a.failure != 0 {
		e.Failure = a.failure.String()
	}
	if s.cluster != nil {
		e.UpstreamCluster = s.cluster.Name()
	}
	if s.host != nil {
		e.UpstreamHost = s.host.Address()
	}
	e.UpstreamLocalAddress = a.upLocal
	e.DownstreamLocalAddress, e.DownstreamRemoteAddress = s.d.addrs()
	s.d.f.alog.Log(e)
}

// addrs returns the connection's local and remote addresses as strings,
// formatted on the first call (the access log's, once per connection).
// Loop only.
func (d *downstream) addrs() (local, remote string) {
	if d.addr == nil {
		d.addr = &connAddrs{local: d.c.SocketLocalAddr()} // gnet's LocalAddr is the listener's configured address
		if a := d.c.RemoteAddr(); a != nil {
			d.addr.remote = a.String()
		}
	}
	return d.addr.local, d.addr.remote
}

// localAddr returns ferry's end of the upstream connection as a string,
// formatted on the first call. Loop only.
func (u *upConn) localAddr() string {
	if u.local == "" {
		if a := u.pc.C.LocalAddr(); a != nil {
			u.local = a.String()
		}
	}
	return u.local
}
