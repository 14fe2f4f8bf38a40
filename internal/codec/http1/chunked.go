package http1

import (
	"bytes"
	"strconv"
)

// Chunked decoder bounds.
const (
	maxChunkSizeDigits = 16       // hex digits of a chunk-size, leading zeros included
	maxSizeLine        = 4 << 10  // chunk-size line without its CRLF
	maxTrailerBytes    = 16 << 10 // trailer section with its final CRLF
	maxTrailerFields   = 100
)

// chunkState is where a ChunkedDecoder stands.
type chunkState uint8

const (
	csSize     chunkState = iota // reading a chunk-size line
	csData                       // reading chunk-data
	csDataCRLF                   // reading the CRLF after chunk-data
	csTrailer                    // reading the trailer section
	csDone                       // body complete
	csFailed                     // body malformed
)

// ChunkedDecoder decodes the chunked transfer coding (RFC 9112 7.1). It
// keeps no pointer into its input: the input may move between calls.
type ChunkedDecoder struct {
	state  chunkState
	remain int64 // chunk-data bytes still to come
	scan   int   // LF search resume offset in the pending line or section
	line   int   // start of the current trailer line
	fields int   // trailer fields seen
	err    error // sticky error once failed
}

// Reset prepares d for a new body.
func (d *ChunkedDecoder) Reset() { *d = ChunkedDecoder{} }

// Next consumes from in and reports one event.
//
// ChunkData: data is payload, a sub-slice of in, and len(data) <= n.
// ChunkDone: the last-chunk and the trailer section were consumed; data is
// the raw trailer field lines without the final empty line (empty if none).
// ChunkNeedMore: n bytes were consumed (maybe 0); call again with more input
// starting at in[n:]. A partial size line or trailer section is not consumed;
// the scan of it resumes where it stopped.
//
// The caller loops while n > 0 or ev == ChunkData. Errors are *Error with
// Status 400 (431 for an oversized trailer section); they are sticky until
// Reset; ev and n are meaningless with an error. After ChunkDone, Next returns ChunkDone with n == 0.
func (d *ChunkedDecoder) Next(in []byte) (ev ChunkEvent, n int, data []byte, err error) {
	for {
		rest := in[n:]
		switch d.state {
		case csSize:
			c, e := d.sizeLine(rest)
			if e != nil || c == 0 {
				return ChunkNeedMore, n, nil, d.failed(e)
			}
			n += c
		case csData:
			if len(rest) == 0 {
				return ChunkNeedMore, n, nil, nil
			}
			c, p := d.data(rest)
			return ChunkData, n + c, p, nil
		case csDataCRLF:
			c, e := d.dataCRLF(rest)
			if e != nil || c == 0 {
				return ChunkNeedMore, n, nil, d.failed(e)
			}
			n += c
		case csTrailer:
			c, tr, e := d.trailer(rest)
			if e != nil || c == 0 {
				return ChunkNeedMore, n, nil, d.failed(e)
			}
			return ChunkDone, n + c, tr, nil
		case csDone:
			return ChunkDone, n, nil, nil
		default:
			return ChunkNeedMore, 0, nil, d.err
		}
	}
}

// data hands out the next piece of chunk-data from the non-empty in and
// consumes the CRLF after it too when it is already there.
func (d *ChunkedDecoder) data(in []byte) (int, []byte) {
	k := int(min(d.remain, int64(len(in))))
	d.remain -= int64(k)
	if d.remain > 0 {
		return k, in[:k:k]
	}
	d.state = csDataCRLF
	if len(in) >= k+2 && in[k] == '\r' && in[k+1] == '\n' {
		d.state = csSize
		return k + 2, in[:k:k]
	}
	return k, in[:k:k]
}

// failed records a non-nil err as sticky and returns it.
func (d *ChunkedDecoder) failed(err error) error {
	if err != nil {
		d.state, d.err = csFailed, err
	}
	return err
}

func bodyErr(status int, reason string) error { return fail(sideBody, status, reason) }

// sizeLine consumes a complete chunk-size line from in and returns its
// length, or 0 when the line is incomplete.
func (d *ChunkedDecoder) sizeLine(in []byte) (int, error) {
	if d.scan > len(in) {
		d.scan = 0 // contract broken: rescan rather than fail
	}
	i := bytes.IndexByte(in[d.scan:], '\n')
	if i < 0 {
		d.scan = len(in)
		content := len(in)
		if content > 0 && in[content-1] == '\r' {
			content--
		}
		if content > maxSizeLine {
			return 0, bodyErr(400, "chunk size line too long")
		}
		return 0, nil
	}
	lf := d.scan + i
	d.scan = 0
	end := lf
	if end > 0 && in[end-1] == '\r' {
		end--
	}
	if end > maxSizeLine {
		return 0, bodyErr(400, "chunk size line too long")
	}
	if end == lf {
		return 0, bodyErr(400, "bare LF in chunked body")
	}
	size, err := parseChunkSize(in[:end])
	if err != nil {
		return 0, err
	}
	d.remain = size
	d.state = csData
	if size == 0 {
		d.state = csTrailer
	}
	return lf + 1, nil
}

// parseChunkSize parses chunk-size [chunk-ext] (RFC 9112 7.1, 7.1.1).
func parseChunkSize(l []byte) (int64, error) {
	var size int64
	i := 0
	for i < len(l) && hexTable[l[i]] != 0xff {
		if i == maxChunkSizeDigits || size > (1<<63-1)>>4 {
			return 0, bodyErr(400, "chunk size too large")
		}
		size = size<<4 | int64(hexTable[l[i]])
		i++
	}
	if i == 0 {
		return 0, bodyErr(400, "invalid chunk size")
	}
	if err := checkChunkExt(l, i); err != nil {
		return 0, err
	}
	return size, nil
}

// checkChunkExt validates l[i:] as *( BWS ";" BWS name [ BWS "=" BWS value ] ).
// BWS is accepted only where the grammar puts it: whitespace before the
// size, between size and CRLF, or after the last extension is rejected.
func checkChunkExt(l []byte, i int) error {
	for i < len(l) {
		i = skipBWS(l, i)
		if i == len(l) || l[i] != ';' {
			return badSizeByte(l, i)
		}
		i = skipBWS(l, i+1)
		j := skipToken(l, i)
		if j == i {
			return bodyErr(400, "invalid chunk extension name")
		}
		i = j
		k := skipBWS(l, i)
		if k == len(l) || l[k] != '=' {
			continue
		}
		i = skipBWS(l, k+1)
		var ok bool
		if i, ok = extValue(l, i); !ok {
			return bodyErr(400, "invalid chunk extension value")
		}
	}
	return nil
}

func badSizeByte(l []byte, i int) error {
	if i < len(l) && l[i] == '\r' {
		return bodyErr(400, "bare CR in chunked body")
	}
	return bodyErr(400, "invalid chunk size line")
}

func skipBWS(l []byte, i int) int {
	for i < len(l) && isOWS(l[i]) {
		i++
	}
	return i
}

func skipToken(l []byte, i int) int {
	for i < len(l) && tokenTable[l[i]] {
		i++
	}
	return i
}

// extValue skips a token or quoted-string (RFC 9110 5.6.4) at l[i:].
func extValue(l []byte, i int) (int, bool) {
	if i == len(l) {
		return i, false
	}
	if l[i] != '"' {
		j := skipToken(l, i)
		return j, j > i
	}
	for i++; i < len(l); i++ {
		switch c := l[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i == len(l) || !valueTable[l[i]] {
				return i, false
			}
		case !qdtextTable[c]:
			return i, false
		}
	}
	return i, false
}

// dataCRLF consumes the CRLF that ends chunk-data.
func (d *ChunkedDecoder) dataCRLF(in []byte) (int, error) {
	switch {
	case len(in) == 0:
		return 0, nil
	case in[0] == '\n':
		return 0, bodyErr(400, "bare LF in chunked body")
	case in[0] != '\r':
		return 0, bodyErr(400, "missing CRLF after chunk data")
	case len(in) == 1:
		return 0, nil
	case in[1] != '\n':
		return 0, bodyErr(400, "bare CR in chunked body")
	}
	d.state = csSize
	return 2, nil
}

// trailer consumes the trailer section (RFC 9112 7.1.2) once complete and
// returns its length and its field lines; field lines are validated as they
// complete. It returns 0 while the section is incomplete.
func (d *ChunkedDecoder) trailer(in []byte) (int, []byte, error) {
	if d.scan > len(in) {
		d.scan, d.line, d.fields = 0, 0, 0
	}
	for {
		i := bytes.IndexByte(in[d.scan:], '\n')
		if i < 0 {
			d.scan = len(in)
			if len(in) >= maxTrailerBytes {
				return 0, nil, bodyErr(431, "trailer section too large")
			}
			return 0, nil, nil
		}
		lf := d.scan + i
		if lf+1 > maxTrailerBytes {
			return 0, nil, bodyErr(431, "trailer section too large")
		}
		end := lf
		if end > d.line && in[end-1] == '\r' {
			end--
		}
		if end == lf {
			return 0, nil, bodyErr(400, "bare LF in chunked body")
		}
		if end == d.line {
			tr := in[:d.line:d.line]
			d.state, d.scan, d.line = csDone, 0, 0
			return lf + 1, tr, nil
		}
		if d.fields++; d.fields > maxTrailerFields {
			return 0, nil, bodyErr(431, "too many trailer fields")
		}
		if _, err := parseField(in, d.line, end, sideBody); err != nil {
			return 0, nil, err
		}
		d.scan, d.line = lf+1, lf+1
	}
}

// AppendChunkHeader appends the chunk-size line for a chunk of size bytes,
// lower-case hex and CRLF (for example "1a2b\r\n"), to dst. size must not
// be negative.
func AppendChunkHeader(dst []byte, size int) []byte {
	if size < 0 {
		panic("http1: negative chunk size")
	}
	dst = strconv.AppendUint(dst, uint64(size), 16)
	return append(dst, '\r', '\n')
}
