package proxy

import (
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/codec/http1"
)

// startRequest sets the stream up from its parsed head and runs the
// phases.
func (s *stream) startRequest() {
	r := &s.req
	s.begin()
	s.reqHdrs.bind(&s.req.Raw, &s.req.Headers)
	s.expect = r.Expect100
	if limit := s.d.f.opts.MaxRequestsPerConn; !r.KeepAlive || limit > 0 && int(s.d.requests) >= limit {
		s.respClose = true // echoed as Connection: close (RFC 9112 9.6)
	}
	switch {
	case r.Chunked:
		s.reqLen = -1
		s.reqDec.Reset()
		s.reqState = stateBody
		s.reqPipe.enc = encChunked // re-encoded: canonical chunks, no extensions
	case r.ContentLength > 0:
		s.reqLen = r.ContentLength
		s.reqState = stateBody
	default:
		s.requestDone()
	}
	if limit := s.d.f.opts.MaxRequestBodyBytes; limit > 0 && r.ContentLength > limit {
		s.fail(Error{Source: Downstream, Kind: KindBodyTooLarge, Err: errBodyTooLarge}, onEvent)
		return
	}
	if !s.parseTarget() {
		s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: errBadTarget}, onEvent)
		return
	}
	if r.IsConnect() {
		if !s.startConnect() { // connect.go
			return
		}
		s.connect = true
	}
	if s.reqState == stateBody {
		s.front.armBodyTimer(s)
	}
	s.run(InitPhase)
}

// hasBody reports whether the request carries a body.
func (s *stream) hasBody() bool { return s.req.Chunked || s.req.ContentLength > 0 }

// readRequestBody moves request body bytes to the request pipe; it reports
// whether to go on reading.
func (s *stream) readRequestBody(buf filterchain.Buffer) bool {
	s.enter()
	defer s.exit()
	s.d.armRead(s.d.f.opts.RequestBodyTimeout)
	if s.reqLen < 0 {
		return s.readChunkedRequest(buf)
	}
	b := buf.Bytes()
	n := int(min(int64(len(b)), s.reqLen))
	s.forwardBody(b[:n])
	buf.Drain(n)
	s.reqTotal += int64(n)
	if s.reqLen -= int64(n); s.reqLen == 0 {
		s.requestDone()
	}
	return !s.ended()
}

func (s *stream) readChunkedRequest(buf filterchain.Buffer) bool {
	for buf.Len() > 0 && !s.ended() {
		ev, n, data, err := s.reqDec.Next(buf.Bytes())
		if err != nil {
			s.fail(Error{Source: Downstream, Kind: KindBadRequest, Err: err}, onEvent)
			return false
		}
		switch ev {
		case http1.ChunkData:
			s.reqTotal += int64(len(data))
			if limit := s.d.f.opts.MaxRequestBodyBytes; limit > 0 && s.reqTotal > limit {
				s.fail(Error{Source: Downstream, Kind: KindBodyTooLarge, Err: errBodyTooLarge}, onEvent)
				return false
			}
			s.forwardBody(data)
		case http1.ChunkDone:
			if !s.reqDiscard {
				s.requestLost(s.reqPipe.finish(data))
			}
			buf.Drain(n)
			s.requestDone()
			return true
		}
		buf.Drain(n)
		if ev == http1.ChunkNeedMore && n == 0 {
			return false
		}
	}
	return !s.ended()
}

func (s *stream) forwardBody(b []byte) {
	if s.rt.policy != nil {
		s.keepBody(b) // for a replay (retry.go)
	}
	if s.mir != nil {
		s.mirrorBody(b) // mirror.go
	}
	if !s.reqDiscard {
		s.requestLost(s.reqPipe.add(b))
	}
}

// requestLost fails the stream when err says that request body bytes
// could not be buffered (a spill queue write failed): the request cannot
// be forwarded whole.
func (s *stream) requestLost(err error) {
	if err != nil && !s.ended() {
		s.fail(Error{Source: Downstream, Kind: KindOverflow, Err: &spillError{"the request body could not be buffered", err}}, onEvent)
	}
}

// requestDone marks the request fully read; the upstream's time to answer
// starts now (Envoy's route timeout semantics).
func (s *stream) requestDone() {
	s.reqState = stateDone
	if s.mir != nil {
		s.mirrorDone() // the copy is whole: it goes out (mirror.go)
	}
	s.front.requestDone(s)
	s.loop.Stop(&s.reqTimer)
	if s.headSent && !s.timeout.Armed() && s.respState != stateDone {
		s.loop.Schedule(&s.timeout, s.routeTimeout())
	}
}
