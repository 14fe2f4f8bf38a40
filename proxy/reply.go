package proxy

import (
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/router"
)

// localReply answers with the status of kind and a short body naming the
// cause, and counts it.
func (s *stream) localReply(kind Kind, detail string) Phase {
	s.srv.stats.countLocal(kind)
	return s.writeReply(kind.Status(), kind.String()+": "+detail+"\n", "")
}

// directReply answers a direct_response route or a filter's local reply.
func (s *stream) directReply(status int, body string) Phase {
	s.srv.stats.direct.Inc()
	return s.writeReply(status, body, "")
}

// redirect answers a redirect route.
func (s *stream) redirect(rd *router.Redirect) Phase {
	s.srv.stats.redirects.Inc()
	loc := s.route.RedirectLocation(nil, []byte("http"), s.routeHost(), s.path)
	code := rd.Code
	if code == 0 {
		code = 301
	}
	return s.writeReply(code, "", "Location: "+string(loc)+"\r\n")
}

// loopFail answers a failure the loop detected (a bad or slow request
// body, an upstream error, a timeout). While a worker owns the stream the
// answer waits for the hand-back; the first failure wins. Loop only.
func (s *stream) loopFail(kind Kind, status int, body string) {
	s.srv.stats.countLocal(kind)
	if s.onWorker {
		if s.loopReply.status == 0 {
			s.loopReply = pendingReply{status: status, body: body}
		}
		return
	}
	s.resume(s.writeReply(status, body, ""))
}

// loopLocal is loopFail with the status and body of kind.
func (s *stream) loopLocal(kind Kind, detail string) {
	s.loopFail(kind, kind.Status(), kind.String()+": "+detail+"\n")
}

// writeReply writes a response ferry made itself. Called on a worker (a
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
	return s.front.reply(s, status, body, extra)
}

// appendConnection adds the Connection field a response needs.
func (s *stream) appendConnection(out []byte) []byte {
	switch {
	case s.respClose || s.srv.draining.Load():
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
