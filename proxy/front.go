package proxy

import (
	"strconv"

	"github.com/ferry-proxy/ferry/internal/codec/http1"
)

// front is the client side of a stream: the one place where the phase
// machine differs between an HTTP/1.1 connection and an HTTP/2 stream.
// An HTTP/1.1 stream's front is its downstream (this file); an HTTP/2
// stream's is its h2conn, which knows the stream by s.h2id (h2.go). The
// phase code calls these and never asks which protocol it serves, except
// for facts of the protocol itself: which 1xx a client may get, how a body
// is delimited, the Via version. Loop only.
type front interface {
	// sendHead writes the response head and opens the body pipe
	// (UpRecvHeader).
	sendHead(s *stream) Phase
	// reply writes a response ferry made itself, head and body, and ends
	// the stream. extra holds "Name: value\r\n" lines.
	reply(s *stream, status int, body, extra string) Phase
	// reset tells the client the response is broken after its head left,
	// and aborts the stream.
	reset(s *stream)
	// flush writes what the front gathered during this event.
	flush()
	// armBodyTimer starts the request body gap timeout.
	armBodyTimer(s *stream)
	// requestDone is told the request was read to its end.
	requestDone(s *stream)
	// streamDone is the stream's End: what follows the last response byte.
	streamDone(s *stream)
	// forget lets go of an aborted stream.
	forget(s *stream)
}

var (
	_ front = (*downstream)(nil)
	_ front = (*h2conn)(nil)
)

// sendHead implements front: the head goes out with the first body bytes
// (one write for a small response).
func (d *downstream) sendHead(s *stream) Phase {
	s.respOut = s.encodeResponseHead(s.respOut[:0])
	s.respSent = true
	if err := s.respPipe.start(d.c, s.respOut); err != nil {
		return parked // the client is gone: the abort finishes the stream
	}
	return UpRecvData
}

// reply implements front.
func (d *downstream) reply(s *stream, status int, body, extra string) Phase {
	s.detachUpstream(false)
	if s.reqState != stateDone || !s.req.KeepAlive {
		s.respClose = true // the rest of the request is never read, or the client asked
	}
	out := append(s.out[:0], "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http1.StatusText(status)...)
	out = append(out, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, "\r\n"...)
	out = append(out, extra...)
	out = s.appendConnection(out)
	out = append(out, "\r\n"...)
	if !s.req.IsHead() {
		out = append(out, body...)
	}
	s.out = out
	s.respSent = true
	s.respState = stateDone
	_ = d.c.Write(out) // a failed write closed the connection; End sees it
	return End
}

// reset implements front: resetting the connection is the only way
// HTTP/1.1 has to say a response broke; the close event aborts the stream.
func (d *downstream) reset(*stream) { d.c.Reset() }

// flush implements front: HTTP/1.1 bytes left with each pipe's flush.
func (d *downstream) flush() {}

// armBodyTimer implements front: the connection's read timer times the
// body.
func (d *downstream) armBodyTimer(*stream) { d.armRead(d.f.opts.RequestBodyTimeout) }

// requestDone implements front: the read timer stops.
func (d *downstream) requestDone(*stream) { d.stopTimer() }

// forget implements front.
func (d *downstream) forget(s *stream) {
	if d.s == s {
		d.s = nil
	}
}
