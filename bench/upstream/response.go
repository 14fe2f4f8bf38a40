package main

import (
	"bytes"
	"strconv"
)

// connMode says which Connection header a response carries.
type connMode uint8

const (
	// modeKeep is an HTTP/1.1 keep-alive response: no Connection header.
	modeKeep connMode = iota
	// modeClose carries "Connection: close"; the server closes afterwards.
	modeClose
	// modeKeep10 answers an HTTP/1.0 keep-alive request: "Connection: keep-alive".
	modeKeep10
	numModes
)

// cannedSizes are the body sizes whose responses are built once at start-up.
//
//nolint:gochecknoglobals // read-only table
var cannedSizes = [...]int{0, 1 << 10, 64 << 10}

// canned is a prebuilt response: full is head followed by body.
type canned struct {
	full    []byte
	headLen int
}

// responses holds the prebuilt 200 responses. It is read-only after
// newResponses, so every event loop may share it.
type responses struct {
	byMode [numModes][len(cannedSizes)]canned
}

// newResponses builds the canned responses.
func newResponses() *responses {
	rs := &responses{}
	for m := range numModes {
		for i, size := range cannedSizes {
			full := appendOK(nil, size, m)
			rs.byMode[m][i] = canned{full: full, headLen: len(full) - size}
		}
	}
	return rs
}

// ok returns the 200 response for a body of size bytes (head only when
// headOnly). The slice may be shared: callers must not modify it.
func (rs *responses) ok(size int, m connMode, headOnly bool) []byte {
	for i, s := range cannedSizes {
		if s == size {
			c := rs.byMode[m][i]
			if headOnly {
				return c.full[:c.headLen]
			}
			return c.full
		}
	}
	full := appendOK(nil, size, m)
	if headOnly {
		return full[:len(full)-size]
	}
	return full
}

// appendOK appends a 200 response with a body of size bytes to dst.
func appendOK(dst []byte, size int, m connMode) []byte {
	dst = append(dst, "HTTP/1.1 200 OK\r\nServer: ferry-bench-upstream\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(size), 10)
	dst = append(dst, "\r\n"...)
	dst = appendConnHeader(dst, m)
	dst = append(dst, "\r\n"...)
	return append(dst, bytes.Repeat([]byte("x"), size)...)
}

// appendConnHeader appends the Connection header line for m, if any.
func appendConnHeader(dst []byte, m connMode) []byte {
	switch m {
	case modeClose:
		return append(dst, "Connection: close\r\n"...)
	case modeKeep10:
		return append(dst, "Connection: keep-alive\r\n"...)
	default:
		return dst
	}
}

// errorResponse builds a small text/plain response with the given status.
func errorResponse(status int, reason string, m connMode) []byte {
	body := reason + "\n"
	dst := append([]byte("HTTP/1.1 "), strconv.Itoa(status)...)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	dst = append(dst, "\r\nServer: ferry-bench-upstream\r\nContent-Type: text/plain\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	dst = appendConnHeader(dst, m)
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}
