package conformance

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// tcase is one conformance case: raw bytes in, expected responses out,
// and what must (or must not) reach the upstream.
type tcase struct {
	name string
	ref  string // the rule or source checked
	req  string // raw bytes, written in one write
	// then is written after the first 1xx response (an Expect body).
	then string
	// methods are the request methods in order, when a HEAD changes how a
	// response is framed; the default is GET.
	methods []string

	// want are the statuses of the final responses, in order. Empty: no
	// response at all; the connection must just end.
	want []int
	// oneOf replaces want[0] when the RFC leaves a choice.
	oneOf []int
	// bodies are the exact response bodies, in order (nil: not checked).
	bodies []string
	// close: the connection must end after the responses.
	close bool
	// follow: the connection must stay usable; a follow-up request must
	// get its own response (not bytes left over from the case).
	follow bool
	// interim are the exact 1xx statuses the client must see (nil: not
	// checked; use []int{} for none).
	interim []int
	// cut: the upstream's response breaks after its head; the client must
	// not get it as complete: a 502, or a reset/close before the head or
	// inside the body (then want is not used).
	cut bool
	// resp checks the first final response further.
	resp func(r *response) error

	// up are exactly the complete requests that must reach the upstream,
	// in order; nil means none may.
	up []up
	// upCheck replaces up when the outcome depends on a choice ferry makes.
	upCheck func(ex *exchange, got []*upReq) error
	// upClosed: ferry must close (never reuse) the upstream connection
	// that carried the first request.
	upClosed bool
}

// up is what one forwarded request must look like at the upstream.
type up struct {
	line     string   // exact request line; "" skips the check
	has      []string // "Name: value" fields present (name case-insensitive, value exact)
	once     []string // field names present exactly once
	not      []string // field names absent
	body     string   // exact decoded body
	rawNot   string   // must not occur in the body as framed on the wire
	chunked  bool     // the body must arrive chunked
	trailers []string // exact trailer field lines
}

// tally counts case outcomes for the summary line.
//
//nolint:gochecknoglobals // test-binary-wide summary, printed by TestMain
var tally struct{ passed, failed atomic.Int64 }

// allCases is every table of the suite, grouped by area.
func allCases() []struct {
	group string
	cases []tcase
} {
	return []struct {
		group string
		cases []tcase
	}{
		{"baseline", baselineCases()},
		{"framing", framingCases()},
		{"chunked", chunkedCases()},
		{"fields", fieldCases()},
		{"request-line", requestLineCases()},
		{"host", hostCases()},
		{"semantics", semanticsCases()},
		{"pipelining", pipeliningCases()},
		{"upstream", upstreamCases()},
	}
}

func TestConformance(t *testing.T) {
	e := startEnv(t)
	tally.passed.Store(0)
	tally.failed.Store(0)
	total := 0
	for _, g := range allCases() {
		for _, tc := range g.cases {
			total++
			t.Run(g.group+"/"+tc.name, func(t *testing.T) {
				defer func() {
					if t.Failed() {
						tally.failed.Add(1)
						t.Logf("ref: %s", tc.ref)
					} else {
						tally.passed.Add(1)
					}
				}()
				runCase(t, e, tc)
			})
		}
	}
	t.Logf("%d cases", total)
	t.Logf("conformance: %d passed, %d failed", tally.passed.Load(), tally.failed.Load())
}

// TestCasesWellFormed checks the tables themselves: unique names, a
// reference for each, and an assertion that can fail.
func TestCasesWellFormed(t *testing.T) {
	seen := map[string]bool{}
	n := 0
	for _, g := range allCases() {
		for _, tc := range g.cases {
			n++
			id := g.group + "/" + tc.name
			if seen[id] {
				t.Errorf("duplicate case %s", id)
			}
			seen[id] = true
			if tc.ref == "" || tc.req == "" {
				t.Errorf("%s: no reference or no request", id)
			}
			if len(tc.want) == 0 && len(tc.oneOf) > 0 {
				t.Errorf("%s: oneOf without want", id)
			}
		}
	}
	if n < 100 {
		t.Errorf("only %d cases, want at least 100", n)
	}
}

func runCase(t *testing.T, e *env, tc tcase) {
	mark := e.rec.mark()
	cc := e.dial(t)
	var probs []string
	fail := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if err := cc.write(tc.req); err != nil {
		fail("write request: %v", err)
	}
	checkDownstream(cc, tc, fail)
	_ = cc.c.Close()
	e.quiesce(t)

	all := e.rec.since(mark)
	var got []*upReq
	for _, q := range all {
		if q.complete && q.target() != "/follow" {
			got = append(got, q)
		}
	}
	switch {
	case tc.upCheck != nil:
		if err := tc.upCheck(cc.ex, got); err != nil {
			fail("upstream: %v", err)
		}
	default:
		checkUpstream(tc.up, got, fail)
	}
	if tc.upClosed && len(got) > 0 {
		for _, q := range all {
			if q.target() == "/follow" && q.conn == got[0].conn {
				fail("the follow-up request reused upstream connection %d, whose framing was lost", q.conn)
			}
		}
	}
	if len(probs) > 0 {
		for _, p := range probs {
			t.Error(p)
		}
		t.Logf("request:  %q", truncate(tc.req, 600))
		t.Logf("client read: %q", truncate(cc.ex.raw.String(), 600))
		for _, q := range all {
			t.Logf("upstream got: %s", truncate(q.String(), 600))
		}
	}
	if tc.upClosed && len(got) > 0 {
		n := got[0].conn
		testutil.WaitFor(t, ioTimeout, fmt.Sprintf("ferry to close upstream connection %d (a connection whose framing is lost must never be reused)", n),
			func() bool { return e.rec.isClosed(n) })
	}
}

// checkDownstream reads the expected responses and checks them.
func checkDownstream(cc *clientConn, tc tcase, fail func(string, ...any)) {
	method := func(i int) string {
		if i < len(tc.methods) {
			return tc.methods[i]
		}
		return "GET"
	}
	if tc.cut {
		checkCut(cc, fail)
		return
	}
	if len(tc.want) == 0 {
		if ok, why := cc.waitEOF(); !ok {
			fail("want the connection closed without a response: %s", why)
		}
		return
	}
	for i, want := range tc.want {
		r, err := cc.readResponse(method(i), tc.then)
		if err != nil {
			fail("response %d: %v (want status %d)", i+1, err, want)
			return
		}
		if i == 0 && len(tc.oneOf) > 0 {
			if !slices.Contains(tc.oneOf, r.status) {
				fail("status %d, want one of %v", r.status, tc.oneOf)
			}
		} else if r.status != want {
			fail("response %d: status %d, want %d", i+1, r.status, want)
		}
		if i < len(tc.bodies) && r.body != tc.bodies[i] {
			fail("response %d: body %q, want %q", i+1, truncate(r.body, 200), tc.bodies[i])
		}
		if r.cut != nil {
			fail("response %d: body cut: %v", i+1, r.cut)
		}
		if i == 0 && tc.resp != nil {
			if err := tc.resp(r); err != nil {
				fail("response: %v", err)
			}
		}
	}
	if tc.interim != nil && !slices.Equal(cc.ex.interim, tc.interim) {
		fail("interim responses %v, want %v", cc.ex.interim, tc.interim)
	}
	if tc.close {
		if ok, why := cc.waitEOF(); !ok {
			fail("want the connection closed after the response: %s", why)
		}
	}
	if tc.follow {
		if err := cc.write("GET /follow HTTP/1.1\r\nHost: app.test\r\n\r\n"); err != nil {
			fail("follow-up write: %v", err)
			return
		}
		r, err := cc.readResponse("GET", "")
		switch {
		case err != nil:
			fail("follow-up: %v", err)
		case r.status != 200 || r.body != "GET /follow":
			fail("follow-up got %d %q, want its own 200 \"GET /follow\"", r.status, r.body)
		}
	}
}

// checkCut checks that a response broken upstream reaches the client as a
// 502, or as a connection that ends before the message is complete.
func checkCut(cc *clientConn, fail func(string, ...any)) {
	r, err := cc.readResponse("GET", "")
	switch {
	case err != nil && testutil.IsTimeout(err):
		fail("no response and no close: %v", err)
	case err != nil: // reset or closed before a whole head: nothing presented as complete
	case r.status == 502:
	case r.cut == nil:
		fail("a broken response reached the client as complete: %d %q", r.status, r.body)
	default:
		if ok, why := cc.waitEOF(); !ok {
			fail("want the connection closed after the cut body: %s", why)
		}
	}
}

// checkUpstream compares the forwarded requests with the expectations.
func checkUpstream(want []up, got []*upReq, fail func(string, ...any)) {
	if len(got) != len(want) {
		fail("%d complete requests reached the upstream, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		for _, p := range want[i].problems(got[i]) {
			fail("upstream request %d: %s", i+1, p)
		}
	}
}

// problems lists how q differs from w.
func (w *up) problems(q *upReq) []string {
	var ps []string
	if w.line != "" && q.line != w.line {
		ps = append(ps, fmt.Sprintf("request line %q, want %q", q.line, w.line))
	}
	for _, h := range w.has {
		name, value, _ := strings.Cut(h, ": ")
		if !slices.Contains(q.values(name), value) {
			ps = append(ps, fmt.Sprintf("no field %q (have %q)", h, q.values(name)))
		}
	}
	for _, name := range w.once {
		if n := len(q.values(name)); n != 1 {
			ps = append(ps, fmt.Sprintf("%d %s fields, want exactly 1", n, name))
		}
	}
	for _, name := range w.not {
		if vs := q.values(name); len(vs) > 0 {
			ps = append(ps, fmt.Sprintf("field %s must not be forwarded, got %q", name, vs))
		}
	}
	if string(q.body) != w.body {
		ps = append(ps, fmt.Sprintf("body %q, want %q", truncate(string(q.body), 200), truncate(w.body, 200)))
	}
	if w.rawNot != "" && strings.Contains(string(q.rawBody), w.rawNot) {
		ps = append(ps, fmt.Sprintf("wire body %q contains %q", truncate(string(q.rawBody), 200), w.rawNot))
	}
	if w.chunked && !q.chunked {
		ps = append(ps, "body not chunked")
	}
	if w.trailers != nil && !slices.Equal(q.trailers, w.trailers) {
		ps = append(ps, fmt.Sprintf("trailers %q, want %q", q.trailers, w.trailers))
	}
	return ps
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("...(%d bytes)", len(s))
}
