package conformance

import (
	"fmt"
	"slices"
	"strings"
)

// host is the Host field line of the configured virtual host.
const host = "Host: app.test\r\n"

// peer is the client address ferry sees and appends to X-Forwarded-For.
const peer = "127.0.0.1"

// lines joins field lines, each with its CRLF.
func lines(fs ...string) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f)
		b.WriteString("\r\n")
	}
	return b.String()
}

// get is "GET path HTTP/1.1" with Host and the extra field lines.
func get(path string, fs ...string) string {
	return "GET " + path + " HTTP/1.1\r\n" + host + lines(fs...) + "\r\n"
}

// post is a POST of path with Host, the extra field lines (each with its
// CRLF) and the raw body bytes.
func post(path, fieldLines, body string) string {
	return "POST " + path + " HTTP/1.1\r\n" + host + fieldLines + "\r\n" + body
}

// chunkedPost is a POST whose Transfer-Encoding field line is te (without
// CRLF), carrying body as given (already chunked).
func chunkedPost(te, body string) string {
	return post("/c", te+"\r\n", body)
}

// reject is a case whose request must be refused with status, the
// connection closed, and nothing forwarded.
func reject(name, ref string, status int, req string) tcase {
	return tcase{name: name, ref: ref, req: req, want: []int{status}, close: true}
}

// rejectOneOf is reject where the RFC allows several statuses.
func rejectOneOf(name, ref string, statuses []int, req string) tcase {
	return tcase{name: name, ref: ref, req: req, want: []int{statuses[0]}, oneOf: statuses, close: true}
}

// pass is a case whose request must be forwarded as u describes and
// answered with the upstream's 200, the connection staying usable.
func pass(name, ref, req string, u up) tcase {
	return tcase{name: name, ref: ref, req: req, want: []int{200}, bodies: []string{echo(u.line)},
		follow: true, up: []up{u}}
}

// echo is the recording upstream's default body for a request line.
func echo(line string) string {
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[0] + " " + parts[1]
}

// fwd is a forwarded request with its request line and decoded body.
func fwd(line, body string) up { return up{line: line, body: body} }

// chunkedFwd is a forwarded POST /c whose body arrives chunked, with
// ferry's own framing field and no Content-Length.
func chunkedFwd(body string) up {
	return up{line: "POST /c HTTP/1.1", body: body, chunked: true,
		has: []string{"Transfer-Encoding: chunked"}, once: []string{"Transfer-Encoding"},
		not: []string{"Content-Length"}, rawNot: ";"}
}

// headerAbsent checks that a response carries none of the names.
func headerAbsent(names ...string) func(r *response) error {
	return func(r *response) error {
		for _, n := range names {
			if v := r.header.Values(n); len(v) > 0 {
				return fmt.Errorf("response field %s forwarded: %q", n, v)
			}
		}
		return nil
	}
}

// singleCL checks that a 200 response carries exactly one Content-Length
// with value v.
func singleCL(v string) func(r *response) error {
	return func(r *response) error {
		if r.status != 200 {
			return nil
		}
		if got := r.header.Values("Content-Length"); !slices.Equal(got, []string{v}) {
			return fmt.Errorf("Content-Length fields %q, want exactly [%s]", got, v)
		}
		return nil
	}
}

// normalizedOrRejected accepts either a 400 with nothing forwarded, or a
// forwarded request carrying exactly one "Content-Length: <cl>" and body.
func normalizedOrRejected(cl, body string) func(ex *exchange, got []*upReq) error {
	return func(ex *exchange, got []*upReq) error {
		if len(ex.resps) > 0 && ex.resps[0].status == 400 {
			if len(got) != 0 {
				return fmt.Errorf("rejected with 400 but %d requests were forwarded", len(got))
			}
			return nil
		}
		if len(got) != 1 {
			return fmt.Errorf("%d requests forwarded, want 1", len(got))
		}
		w := up{has: []string{"Content-Length: " + cl}, once: []string{"Content-Length"}, body: body}
		if ps := w.problems(got[0]); len(ps) > 0 {
			return fmt.Errorf("%s", strings.Join(ps, "; "))
		}
		return nil
	}
}

// nothingForwarded is an upCheck for cases with a choice of statuses
// where nothing may reach the upstream in any case.
func nothingForwarded(_ *exchange, got []*upReq) error {
	if len(got) > 0 {
		return fmt.Errorf("%d requests forwarded, want none (first: %q)", len(got), got[0].line)
	}
	return nil
}
