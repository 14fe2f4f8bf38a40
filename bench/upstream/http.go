package main

import (
	"bytes"
	"errors"
	"strconv"
)

// maxHead is the largest request head (request line plus headers) accepted;
// a longer one is answered with 431 and the connection is closed.
const maxHead = 64 << 10

// maxBody is the largest response body "/size/N" may ask for.
const maxBody = 64 << 20

var (
	// errBadRequest means the request head is malformed.
	errBadRequest = errors.New("upstream: malformed request")
	// errChunked means the request body uses a transfer coding we do not decode.
	errChunked = errors.New("upstream: chunked request bodies are not supported")
)

// request holds what the server needs from one parsed request head. Path
// points into the peeked read buffer, so it is valid only until Discard.
type request struct {
	path          []byte
	head          bool  // method is HEAD: send no body
	http10        bool  // HTTP/1.0 request
	close         bool  // the client asked for the connection to be closed
	keepAlive     bool  // the client sent Connection: keep-alive
	contentLength int64 // request body bytes to discard
}

// wantsClose reports whether the connection must be closed after answering.
func (r *request) wantsClose() bool {
	if r.http10 {
		return !r.keepAlive
	}
	return r.close
}

// headEnd returns the length of the complete head at the start of buf, or 0
// if the head is not complete yet. scanned remembers how much of buf was
// already searched, so a head dribbled in byte by byte costs O(n), and is
// reset when a head is found.
func headEnd(buf []byte, scanned *int) int {
	from := max(*scanned-3, 0)
	if i := bytes.Index(buf[from:], []byte("\r\n\r\n")); i >= 0 {
		*scanned = 0
		return from + i + 4
	}
	*scanned = len(buf)
	return 0
}

// parseHead parses a complete request head (ending in CRLFCRLF).
func parseHead(head []byte) (request, error) {
	var r request
	line, rest, ok := bytes.Cut(head, []byte("\r\n"))
	if !ok {
		return r, errBadRequest
	}
	if err := parseRequestLine(line, &r); err != nil {
		return r, err
	}
	clSeen := false
	for len(rest) > 2 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 {
			return r, errBadRequest
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (clSeen && n != r.contentLength) {
				return r, errBadRequest
			}
			r.contentLength, clSeen = n, true
		case bytes.EqualFold(name, []byte("Connection")):
			parseConnection(value, &r)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return r, errChunked
		}
	}
	return r, nil
}

// parseRequestLine parses "METHOD SP target SP HTTP/1.x".
func parseRequestLine(line []byte, r *request) error {
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 || target[0] != '/' {
		return errBadRequest
	}
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		r.http10 = true
	default:
		return errBadRequest
	}
	r.head = string(method) == "HEAD"
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	r.path = target
	return nil
}

// parseConnection reads the comma-separated tokens of a Connection header.
func parseConnection(value []byte, r *request) {
	for len(value) > 0 {
		var tok []byte
		tok, value, _ = bytes.Cut(value, []byte(","))
		tok = bytes.TrimSpace(tok)
		switch {
		case bytes.EqualFold(tok, []byte("close")):
			r.close = true
		case bytes.EqualFold(tok, []byte("keep-alive")):
			r.keepAlive = true
		}
	}
}

// bodySize maps a request path to the response body size; ok is false for
// unknown paths and sizes above maxBody.
func bodySize(path []byte) (size int, ok bool) {
	switch string(path) {
	case "/", "/0":
		return 0, true
	case "/1k":
		return 1 << 10, true
	case "/64k":
		return 64 << 10, true
	}
	n, found := bytes.CutPrefix(path, []byte("/size/"))
	if !found {
		return 0, false
	}
	v, err := strconv.Atoi(string(n))
	if err != nil || v < 0 || v > maxBody {
		return 0, false
	}
	return v, true
}
