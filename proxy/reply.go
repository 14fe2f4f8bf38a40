package proxy

import (
	"strings"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/router"
)

// origin is where a failure was detected, which decides how the stream
// goes on after fail.
type origin bool

const (
	// inPhase is a phase of the stream, on the goroutine that owns it (its
	// loop, or a worker during offloaded filter phases); the phase returns
	// what fail returns.
	inPhase origin = false
	// onEvent is a loop event outside the phases (a read, a close, a
	// timer, a pool callback); fail resumes the stream itself.
	onEvent origin = true
)

// fail is the failure path: every failure ferry detects is built as an
// Error where it is detected and answered here, once. In order:
//
//  1. A retryable failure (Error.Retryable, of a kind that may be retried)
//     of a stream its loop owns is retried: the Retry phase. It is not
//     counted as a failure (Retry counts upstream_rq_retry).
//  2. It is counted in its kind's counter (errors.go, docs/errors.md). A
//     Downstream failure, or a kind that says so, closes the client
//     connection after the answer; an Upstream failure closes the upstream
//     connection (its framing is lost).
//  3. A kind with no status, or a response whose head already went out,
//     cannot be answered: the client's side is reset (a connection reset,
//     or RST_STREAM on HTTP/2), after letting go of the upstream for an
//     Upstream failure. From a phase the stream goes on to End; an event
//     leaves the rest to the close (the abort).
//  4. While a worker owns the stream, the reply waits for the hand-back
//     (toLoop): a phase's failure in pending (the worker's; a later reply
//     replaces it, and the connection-close decision waits with it), a loop
//     event's in loopReply (the loop's; the first wins, and it wins over
//     pending).
//  5. Otherwise the local reply is written by writeReply.
//
// The only failure answered elsewhere has no stream: an HTTP/2 request
// head past the header list limit (h2conn.OnRequestError), which builds
// the same Error and reply.
func (s *stream) fail(e Error, from origin) Phase {
	k := e.Kind.info()
	if s.wantRetry(&e, k) { // retry.go: the stale-connection retry, or the route's policy
		return s.then(Retry, from)
	}
	if !s.onWorker || from == inPhase { // a loop event while on a worker: s.host is the worker's
		s.reportFailure(&e) // outlier.go
	}
	s.srv.stats.countFailure(e.Kind)
	if e.Kind == KindOverflow {
		s.countOverload(&e)
	}
	s.m.cause = e.Kind
	s.al.failure = e.Kind
	s.logFailure(&e, k)
	closes := e.Source == Downstream || k.closes
	if s.onWorker && from == inPhase {
		// On the worker: the loop may be at the connections meanwhile
		// (respClose is the loop's), so all of it waits for the hand-back;
		// a later reply of the worker's replaces this one.
		r := s.replyFor(&e)
		r.close = closes
		s.pending = r
		return parked
	}
	if closes {
		s.respClose = true
	}
	if e.Source == Upstream && s.pc != nil {
		s.pc.C.Close(filterchain.CloseNow)
		s.upReusable = false
	}
	if k.status == 0 || s.respSent {
		s.enter()
		if e.Source == Upstream {
			s.detachUpstream(false)
		}
		s.front.reset(s)
		s.exit()
		if from == inPhase {
			return End
		}
		return parked
	}
	if s.onWorker { // a loop event: the first failure wins, over pending too
		if s.loopReply.status == 0 {
			// Plain, even for gRPC: the request's headers are the worker's
			// now (grpc_reply.go reads them).
			s.loopReply = e.reply()
		}
		return parked
	}
	r := s.replyFor(&e)
	return s.then(s.writeReply(r.status, r.body, r.extra), from)
}

// then goes on with phase p after a failure: a phase returns it, an event
// resumes the stream with it.
func (s *stream) then(p Phase, from origin) Phase {
	if from == onEvent {
		s.resume(p)
		return parked
	}
	return p
}

// spillError is the cause of a failure to buffer body bytes (the spill
// queue's file could not be written: disk full). It is logged as a
// warning; what is the reply's detail.
type spillError struct {
	what string
	err  error
}

func (e *spillError) Error() string { return e.what }
func (e *spillError) Unwrap() error { return e.err }

// responseLost fails the stream when err says that response body bytes
// could not be buffered (a spill queue write failed): the response cannot
// be delivered whole, so the client's side is reset.
func (s *stream) responseLost(err error) {
	if err != nil {
		s.fail(Error{Source: Internal, Kind: KindResponseLost, Err: &spillError{"response body lost: spill queue", err}}, onEvent)
	}
}

// directReply answers a direct_response route. Not a failure: it shares
// the writer.
func (s *stream) directReply(status int, body string) Phase {
	s.srv.stats.direct.Inc()
	return s.writeReply(status, body, "")
}

// redirect answers a redirect route. Not a failure: it shares the writer.
func (s *stream) redirect(rd *router.Redirect) Phase {
	s.srv.stats.redirects.Inc()
	loc := s.route.RedirectLocation(nil, []byte("http"), s.routeHost(), s.path)
	code := rd.Code
	if code == 0 {
		code = 301
	}
	return s.writeReply(code, "", "Location: "+string(loc)+"\r\n")
}

// writeReply is the one writer of a response ferry made itself: a
// failure's local reply (fail), a direct response, a redirect, a filter's
// reply, the answer to OPTIONS * or Max-Forwards: 0. Called on a worker (a
// filter phase decided it), it is deferred to the hand-back. Once response
// bytes went out, no reply is possible: the client's side is reset instead.
func (s *stream) writeReply(status int, body, extra string) Phase {
	if s.onWorker {
		s.pending = pendingReply{status: status, body: body, extra: extra}
		return parked
	}
	if s.respSent {
		s.front.reset(s)
		return End
	}
	s.al.status, s.al.replyBody = status, len(body)
	s.m.status = status
	if strings.HasPrefix(extra, grpcReplyFields) {
		return s.grpcReply(extra)
	}
	return s.front.reply(s, status, body, extra)
}

// appendConnection adds the Connection field a response needs.
func (s *stream) appendConnection(out []byte) []byte {
	switch {
	case s.respClose || s.srv.draining.Load() || s.d.f.drain.on.Load():
		s.respClose = true
		return append(out, "Connection: close\r\n"...)
	case s.req.Minor == 0:
		return append(out, "Connection: keep-alive\r\n"...)
	}
	return out
}

// closeMode is how the downstream closes after a response: lingering when
// request bytes may still be unread, so the reply is not lost to a reset.
func (s *stream) closeMode() filterchain.CloseMode {
	if s.reqState != stateDone {
		return filterchain.CloseLinger
	}
	return filterchain.CloseFlush
}

//nolint:gochecknoglobals // read-only
var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")
