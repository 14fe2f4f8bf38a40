package proxy

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/upstream"
)

// countOverload counts an overflow reply under the limit that refused it
// (overload_<limit>, retry.go).
func (s *stream) countOverload(e *Error) {
	var le *upstream.LimitError
	switch {
	case errors.As(e.Err, &le):
		s.srv.stats.countOverload(le.What)
	case e.Err == errWorkersClosed:
		s.srv.stats.countOverload("worker_pool")
	}
}

// gRPC local replies. A failure of a gRPC request (content-type
// application/grpc*) is answered as gRPC clients expect one: HTTP 200,
// trailers-only (one HEADERS frame with END_STREAM over HTTP/2),
// content-type application/grpc, grpc-status from the kind's table
// (errors.go: kindInfo.grpc, else gRPC's HTTP-to-gRPC mapping of the
// status) and grpc-message the reply's text, instead of a text/plain 5xx
// that a gRPC client reports as a protocol error.

// grpcReplyFields starts the extra header lines of a gRPC local reply,
// which writeReply recognises.
const grpcReplyFields = "content-type: application/grpc\r\n"

// grpcRequest reports whether the request is a gRPC call.
func (s *stream) grpcRequest() bool {
	if s.reqHdrs.fields == nil {
		return false // no request head parsed (a bad request)
	}
	ct, ok := s.reqHdrs.Get("content-type")
	return ok && len(ct) >= 16 && strings.EqualFold(string(ct[:16]), "application/grpc") &&
		(len(ct) == 16 || ct[16] == '+' || ct[16] == ';')
}

// replyFor is the local reply answering e: e.reply, or its gRPC form for
// a gRPC request.
func (s *stream) replyFor(e *Error) pendingReply {
	r := e.reply()
	if r.status == 0 || !s.grpcRequest() {
		return r
	}
	code := e.Kind.info().grpc
	if code == 0 || e.Kind == KindBadRequest && r.status != 400 {
		code = grpcStatusOf(r.status)
	}
	extra := grpcReplyFields + "grpc-status: " + strconv.Itoa(int(code)) + "\r\ngrpc-message: " +
		grpcMessage(strings.TrimSuffix(r.body, "\n")) + "\r\n" + r.extra
	return pendingReply{status: 200, extra: extra}
}

// grpcStatusOf is gRPC's HTTP-to-gRPC status mapping
// (doc/http-grpc-status-mapping.md in grpc/grpc).
func grpcStatusOf(status int) uint8 {
	switch status {
	case 400:
		return 13 // INTERNAL
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 429, 502, 503, 504:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

// grpcMessage percent-encodes msg as grpc-message wants: every byte
// outside printable ASCII, and '%'.
func grpcMessage(msg string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(msg) {
		c := msg[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// grpcReply writes a gRPC local reply whose header lines are extra
// (replyFor). Over HTTP/2 it is one HEADERS frame with END_STREAM (a
// trailers-only response); over HTTP/1.1 a 200 without a body.
func (s *stream) grpcReply(extra string) Phase {
	s.detachUpstream(false)
	s.respSent = true
	s.respState = stateDone
	if h := s.h2; h != nil {
		h.fields = appendTrailerFields(h.fields[:0], []byte(extra))
		h.codec.WriteHeaders(s.h2id, 200, h.fields, true)
		s.h2ended = true
		h.flush()
		return End
	}
	if s.reqState != stateDone || !s.req.KeepAlive {
		s.respClose = true
	}
	out := append(s.out[:0], "HTTP/1.1 200 OK\r\n"...)
	out = append(out, extra...)
	out = append(out, "Content-Length: 0\r\n"...)
	out = s.appendConnection(out)
	out = append(out, "\r\n"...)
	s.out = out
	_ = s.d.c.Write(out) // a failed write closed the connection; End sees it
	return End
}

// grpcTimeout is the request's grpc-timeout, which caps the route timeout
// (routeTimeout), or 0 when it has none or a malformed one. Only HTTP/2
// requests carry gRPC; the header is looked up once per request.
func (s *stream) grpcTimeout() time.Duration {
	if s.h2 == nil || s.reqHdrs.fields == nil {
		return 0
	}
	if !s.rt.grpcChecked {
		s.rt.grpcChecked = true
		if v, ok := s.reqHdrs.Get("grpc-timeout"); ok {
			s.rt.grpcTimeout = parseGRPCTimeout(v)
		}
	}
	return s.rt.grpcTimeout
}

// parseGRPCTimeout parses "<1 to 8 digits><unit>" (unit H, M, S, m, u or
// n); 0 when malformed.
func parseGRPCTimeout(v []byte) time.Duration {
	if len(v) < 2 || len(v) > 9 {
		return 0
	}
	var n int64
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0
	}
	if n > int64(1<<63-1)/int64(unit) {
		return 1<<63 - 1
	}
	return time.Duration(n) * unit
}
