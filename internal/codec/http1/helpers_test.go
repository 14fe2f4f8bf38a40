package http1

import (
	"errors"
	"fmt"
	"strings"
)

// reqResult is a comparable snapshot of a Request.Parse outcome.
type reqResult struct {
	n         int
	status    int
	reason    string
	method    string
	target    string
	minor     uint8
	host      string
	hasHost   bool
	cl        int64
	chunked   bool
	keepAlive bool
	expect100 bool
	upgrade   bool
	headers   string // "name: value [flags]\n" per field
}

func snapReq(r *Request, n int, err error) reqResult {
	if err != nil {
		res := errResult(err)
		res.n = n // must be 0
		return res
	}
	if n == 0 {
		return reqResult{}
	}
	return reqResult{
		n:         n,
		method:    string(r.Bytes(r.Method)),
		target:    string(r.Bytes(r.Target)),
		minor:     r.Minor,
		host:      string(r.Bytes(r.Host)),
		hasHost:   r.HasHost,
		cl:        r.ContentLength,
		chunked:   r.Chunked,
		keepAlive: r.KeepAlive,
		expect100: r.Expect100,
		upgrade:   r.Upgrade,
		headers:   dumpHeaders(r.Raw, r.Headers),
	}
}

func errResult(err error) reqResult {
	var e *Error
	if !errors.As(err, &e) {
		return reqResult{status: -1, reason: err.Error()}
	}
	return reqResult{status: e.Status, reason: e.Reason}
}

func dumpHeaders(raw []byte, hs []Header) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "%s: %s [%08b]\n", bytesOf(raw, h.Name), bytesOf(raw, h.Value), h.Flags)
	}
	return b.String()
}

// respResult is a comparable snapshot of a Response.Parse outcome.
type respResult struct {
	n         int
	status    int // parse error status, 0 when accepted
	reason    string
	code      int
	minor     uint8
	phrase    string
	cl        int64
	chunked   bool
	keepAlive bool
	body      BodyKind
	headers   string
}

func snapResp(r *Response, n int, err error) respResult {
	if err != nil {
		e := errResult(err)
		return respResult{n: n, status: e.status, reason: e.reason} // n must be 0
	}
	if n == 0 {
		return respResult{}
	}
	return respResult{
		n:         n,
		code:      r.Status,
		minor:     r.Minor,
		phrase:    string(r.Bytes(r.Reason)),
		cl:        r.ContentLength,
		chunked:   r.Chunked,
		keepAlive: r.KeepAlive,
		body:      r.Body,
		headers:   dumpHeaders(r.Raw, r.Headers),
	}
}

// feedReq parses buf one-shot and then by growing prefixes cut at cuts
// (ascending, within buf); it returns both outcomes and whether any
// intermediate call returned something other than need-more before the
// final outcome.
func feedReq(buf []byte, lim Limits, cuts []int) (oneShot, incremental reqResult) {
	var r Request
	n, err := r.Parse(buf, lim)
	oneShot = snapReq(&r, n, err)

	var q Request
	for _, k := range cuts {
		n, err = q.Parse(buf[:k], lim)
		if n > 0 || err != nil {
			return oneShot, snapReq(&q, n, err)
		}
	}
	n, err = q.Parse(buf, lim)
	return oneShot, snapReq(&q, n, err)
}

func feedResp(buf []byte, head bool, lim Limits, cuts []int) (oneShot, incremental respResult) {
	var r Response
	n, err := r.Parse(buf, head, lim)
	oneShot = snapResp(&r, n, err)

	var q Response
	for _, k := range cuts {
		n, err = q.Parse(buf[:k], head, lim)
		if n > 0 || err != nil {
			return oneShot, snapResp(&q, n, err)
		}
	}
	n, err = q.Parse(buf, head, lim)
	return oneShot, snapResp(&q, n, err)
}

// chunkResult is the outcome of decoding a whole chunked body.
type chunkResult struct {
	payload string
	trailer string
	done    bool
	n       int // bytes consumed in total
	status  int
	reason  string
}

// decodeChunked feeds in to a fresh decoder through growing windows cut at
// cuts (the caller keeping unconsumed bytes) and then the rest.
func decodeChunked(in []byte, cuts []int) chunkResult {
	var d ChunkedDecoder
	var res chunkResult
	var payload strings.Builder
	off := 0
	for _, end := range append(cuts, len(in)) {
		if end < off {
			continue
		}
		for {
			ev, n, data, err := d.Next(in[off:end])
			if err != nil {
				e := errResult(err)
				res.status, res.reason = e.status, e.reason
				res.payload = payload.String() // n is meaningless on error
				return res
			}
			off += n
			if ev == ChunkData {
				payload.Write(data)
			}
			if ev == ChunkDone {
				res.done, res.trailer = true, string(data)
				res.payload, res.n = payload.String(), off
				return res
			}
			if n == 0 && ev != ChunkData {
				break
			}
		}
	}
	res.payload, res.n = payload.String(), off
	return res
}
