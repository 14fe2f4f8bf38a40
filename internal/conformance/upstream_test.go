package conformance

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// upReq is one request as the recording upstream received it.
type upReq struct {
	conn     int      // upstream connection number, from 1
	head     string   // raw head, final CRLF included
	line     string   // request line
	fields   []string // field lines as received, without CRLF
	body     []byte   // decoded body
	rawBody  []byte   // body bytes as framed on the wire
	chunked  bool
	trailers []string // trailer field lines (chunked only)
	complete bool     // head and body were read whole
	err      error    // what the upstream could not parse
}

// target is the request-target of the request line.
func (r *upReq) target() string {
	parts := strings.SplitN(r.line, " ", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// method is the method of the request line.
func (r *upReq) method() string {
	m, _, _ := strings.Cut(r.line, " ")
	return m
}

// values returns the values (OWS trimmed) of the fields named name.
func (r *upReq) values(name string) []string {
	var vs []string
	for _, f := range r.fields {
		n, v, ok := strings.Cut(f, ":")
		if ok && strings.EqualFold(n, name) {
			vs = append(vs, strings.Trim(v, " \t"))
		}
	}
	return vs
}

func (r *upReq) String() string {
	return fmt.Sprintf("%q body %q (complete %v, err %v)", r.head, r.body, r.complete, r.err)
}

// script is a scripted upstream answer.
type script struct {
	raw   string // bytes written in one write
	close bool   // close the connection after writing; else serve the next request
}

// scripts are the upstream answers selected by a "/s/<name>" path. Every
// other path gets a well-formed 200 whose body is "<method> <target>".
//
//nolint:gochecknoglobals // read-only test table
var scripts = map[string]script{
	"two-cl":       {raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
	"cl-list-bad":  {raw: "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd"},
	"cl-list-eq":   {raw: "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok"},
	"cl-dup-eq":    {raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
	"cl-te":        {raw: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	"te-cl":        {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	"te-twice":     {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	"te-gzip":      {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", close: true},
	"te-space":     {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	"cl-neg":       {raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc"},
	"cl-plus":      {raw: "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc"},
	"cl-hex":       {raw: "HTTP/1.1 200 OK\r\nContent-Length: 0x3\r\n\r\nabc"},
	"204-body":     {raw: "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"},
	"204-cl":       {raw: "HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\nsmuggled"},
	"cl0-extra":    {raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"},
	"304-body":     {raw: "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 8\r\n\r\nsmuggled"},
	"head-body":    {raw: "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"},
	"excess":       {raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"},
	"garbage":      {raw: "SSH-2.0-OpenSSH_9.6\r\n\r\n"},
	"bare-lf":      {raw: "HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nok"},
	"bare-cr":      {raw: "HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\nContent-Length: 2\r\n\r\nok"},
	"nul":          {raw: "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok"},
	"obs-fold":     {raw: "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok"},
	"name-space":   {raw: "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"},
	"status-4dig":  {raw: "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok"},
	"status-099":   {raw: "HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok"},
	"status-600":   {raw: "HTTP/1.1 600 High\r\nContent-Length: 2\r\n\r\nok"},
	"status-alpha": {raw: "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok"},
	"version-2":    {raw: "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	"version-lc":   {raw: "http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	"http09":       {raw: "<html>hello</html>", close: true},
	"no-reason":    {raw: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"},
	"101":          {raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nraw-bytes"},
	"103":          {raw: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	"only-100":     {raw: "HTTP/1.1 100 Continue\r\n\r\n", close: true},
	"100-extra":    {raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	"hop":          {raw: "HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok"},
	"conn-close":   {raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", close: true},
	"until-close":  {raw: "HTTP/1.1 200 OK\r\nX-Framing: close\r\n\r\nclose-delimited", close: true},
	"short-close":  {raw: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", close: true},
	"chunk-trunc":  {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", close: true},
	"chunk-bad":    {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n"},
	"chunk-nocrlf": {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"},
	"chunked":      {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"},
	"big-head":     {raw: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 40<<10) + "\r\nContent-Length: 2\r\n\r\nok"},
	"resp-http10":  {raw: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
	"resp-10-te":   {raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
}

// recorder is the recording upstream: it reads each request whole, records
// it and answers per its script. Any goroutine.
type recorder struct {
	srv *testutil.RawServer

	mu     sync.Mutex
	reqs   []*upReq
	nconn  int
	closed map[int]bool // connections whose peer (ferry) closed them
}

func newRecorder(t testing.TB) *recorder {
	r := &recorder{closed: map[int]bool{}}
	r.srv = testutil.NewRawServer(t, r.serve)
	return r
}

// mark is the number of requests recorded so far.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// since returns the requests recorded after mark m.
func (r *recorder) since(m int) []*upReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*upReq(nil), r.reqs[m:]...)
}

// isClosed reports whether ferry closed upstream connection n.
func (r *recorder) isClosed(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed[n]
}

func (r *recorder) add(q *upReq) {
	r.mu.Lock()
	r.reqs = append(r.reqs, q)
	r.mu.Unlock()
}

func (r *recorder) serve(c net.Conn) {
	r.mu.Lock()
	r.nconn++
	n := r.nconn
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.closed[n] = true
		r.mu.Unlock()
	}()
	br := bufio.NewReaderSize(c, 128<<10) // heads up to ferry's 32 KiB limit and more
	for {
		q, err := readUpRequest(br)
		if q == nil {
			return // the connection ended between requests
		}
		q.conn = n
		r.add(q)
		if err != nil {
			return
		}
		sc, ok := scripts[scriptName(q.target())]
		if !ok {
			sc = script{raw: defaultResponse(q)}
		}
		if _, err := io.WriteString(c, sc.raw); err != nil || sc.close {
			return
		}
	}
}

// scriptName is <name> of a "/s/<name>..." target.
func scriptName(target string) string {
	rest, ok := strings.CutPrefix(target, "/s/")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// defaultResponse is a well-formed 200 naming the request, so that a
// client can tell which request a response answers.
func defaultResponse(q *upReq) string {
	body := q.method() + " " + q.target()
	resp := "HTTP/1.1 200 OK\r\nX-Up: rec\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if q.method() == "HEAD" {
		return resp
	}
	return resp + body
}

var errFraming = errors.New("upstream: bad framing")

// readUpRequest reads one request. It returns nil at a clean end of the
// connection before a request, and a partial request with an error when
// the request is cut short or malformed.
func readUpRequest(br *bufio.Reader) (*upReq, error) {
	head, err := testutil.ReadHead(br)
	if head == "" && err != nil {
		return nil, err
	}
	q := &upReq{head: head}
	if err != nil {
		q.err = fmt.Errorf("head cut short: %w", err)
		return q, q.err
	}
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	q.line, q.fields = lines[0], lines[1:]
	if strings.Contains(head[:len(head)-2], "\n\n") || strings.Count(head, "\n") != strings.Count(head, "\r\n") {
		q.err = fmt.Errorf("%w: bare LF in head", errFraming)
		return q, q.err
	}
	if err := q.readBody(br); err != nil {
		q.err = err
		return q, err
	}
	q.complete = true
	return q, nil
}

func (r *upReq) readBody(br *bufio.Reader) error {
	if te := r.values("Transfer-Encoding"); len(te) > 0 {
		codings := strings.Split(strings.Join(te, ","), ",")
		if !strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked") || len(r.values("Content-Length")) > 0 {
			return fmt.Errorf("%w: Transfer-Encoding %q", errFraming, te)
		}
		r.chunked = true
		return r.readChunked(br)
	}
	cls := r.values("Content-Length")
	if len(cls) == 0 {
		return nil
	}
	n := int64(-1)
	for _, v := range strings.Split(strings.Join(cls, ","), ",") {
		m, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || m < 0 || (n >= 0 && m != n) {
			return fmt.Errorf("%w: Content-Length %q", errFraming, cls)
		}
		n = m
	}
	r.body = make([]byte, n)
	if _, err := io.ReadFull(br, r.body); err != nil {
		return fmt.Errorf("body cut short: %w", err)
	}
	r.rawBody = r.body
	return nil
}

// readChunked decodes a chunked body strictly (RFC 9112 7.1), keeping the
// wire bytes.
func (r *upReq) readChunked(br *bufio.Reader) error {
	var raw, body bytes.Buffer
	defer func() { r.rawBody, r.body = raw.Bytes(), body.Bytes() }()
	for {
		line, err := br.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			return fmt.Errorf("chunk size cut short: %w", err)
		}
		if !strings.HasSuffix(line, "\r\n") {
			return fmt.Errorf("%w: bare LF after chunk size", errFraming)
		}
		size, _, _ := strings.Cut(strings.TrimSuffix(line, "\r\n"), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errFraming, size)
		}
		if n == 0 {
			return r.readTrailers(br, &raw)
		}
		data := make([]byte, n+2)
		_, err = io.ReadFull(br, data)
		raw.Write(data)
		if err != nil {
			return fmt.Errorf("chunk cut short: %w", err)
		}
		if string(data[n:]) != "\r\n" {
			return fmt.Errorf("%w: no CRLF after chunk data", errFraming)
		}
		body.Write(data[:n])
	}
}

func (r *upReq) readTrailers(br *bufio.Reader, raw *bytes.Buffer) error {
	for {
		line, err := br.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			return fmt.Errorf("trailers cut short: %w", err)
		}
		if line == "\r\n" {
			return nil
		}
		r.trailers = append(r.trailers, strings.TrimSuffix(line, "\r\n"))
	}
}
