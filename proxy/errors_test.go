package proxy

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/errors.md from the Kind table") //nolint:gochecknoglobals // test flag

// renderErrorsDoc renders docs/errors.md from the Kind table.
func renderErrorsDoc() []byte {
	var b bytes.Buffer
	b.WriteString(`# Failures

<!-- Generated from the Kind table in proxy/errors.go by TestErrorsDoc
(proxy/errors_test.go), which fails when this file differs. Do not edit:
go test ./proxy/ -run TestErrorsDoc -update -->

Every failure ferry detects is a ` + "`proxy.Error{Source, Kind, Retryable, Err}`" + `,
built where it is detected and answered once, by ` + "`stream.fail`" + `
(` + "`proxy/reply.go`" + `):

1. A failure of a kind that may be retried, of a stream its loop owns
   whose response has not started, is sent again (the ` + "`Retry`" + ` phase, counted
   in ` + "`upstream_rq_retry`" + `; proxy/retry.go), not counted below, when
   ` + "`Retryable`" + ` was set where it was detected (the stale-connection retry),
   or when the route's ` + "`retry_policy`" + ` covers it and allows one more attempt,
   the request can be replayed and the cluster's ` + "`max_retries`" + ` has room.
2. It is counted in its kind's counter. A ` + "`Downstream`" + ` failure (or a
   filter panic) closes the client connection after the answer; an
   ` + "`Upstream`" + ` failure closes the upstream connection.
3. A kind without a status, or a response whose head already went out, is
   answered with a reset of the client's side (a TCP reset over HTTP/1.1,
   RST_STREAM over HTTP/2): a truncated response never reads as complete.
4. While a worker owns the stream, the reply waits for the hand-back.
5. Otherwise the client gets the local reply: the status below and a
   ` + "`text/plain`" + ` body "` + "`<kind>: <detail>`" + `" (a bad request: "` + "`<status text>: <reason>`" + `").
   A gRPC request (` + "`content-type: application/grpc*`" + `) gets a gRPC error
   instead: HTTP 200, ` + "`content-type: application/grpc`" + `, trailers-only (one
   HEADERS frame with END_STREAM over HTTP/2), the ` + "`grpc-status`" + ` below
   and the body's text as ` + "`grpc-message`" + ` (percent-encoded). Its
   ` + "`grpc-timeout`" + ` caps the route timeout.

| Kind | Status | gRPC status | Counter | Retryable | When |
|---|---|---|---|---|---|
`)
	for k := Kind(1); k < kindCount; k++ {
		ki := &kinds[k]
		status := "reset"
		if ki.status != 0 {
			status = strconv.Itoa(ki.status)
		}
		retry := "no"
		if ki.retry {
			retry = "yes"
		}
		grpc := "-"
		if ki.status != 0 {
			grpc = strconv.Itoa(int(ki.grpc)) + " " + grpcCodeNames[ki.grpc]
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` | %s | %s |\n", ki.name, status, grpc, ki.counter, retry, ki.when)
	}
	return b.Bytes()
}

//nolint:gochecknoglobals // read-only
var grpcCodeNames = map[uint8]string{2: "UNKNOWN", 4: "DEADLINE_EXCEEDED", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
	12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED"}

// TestErrorsDoc keeps docs/errors.md equal to what the Kind table says.
func TestErrorsDoc(t *testing.T) {
	const path = "../docs/errors.md"
	want := renderErrorsDoc()
	if *updateDocs {
		if err := os.WriteFile(path, want, 0o644); err != nil { // a doc in the repository
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./proxy/ -run TestErrorsDoc -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/errors.md differs from the Kind table in proxy/errors.go; regenerate: go test ./proxy/ -run TestErrorsDoc -update\n--- want\n%s", want)
	}
}

// TestKindTable checks every kind is whole: a name, a counter, a status
// that is a 4xx/5xx or none (a reset), and unique names and counters, each
// registered in the server's counters.
func TestKindTable(t *testing.T) {
	names, counters := map[string]Kind{}, map[string]Kind{}
	st := newStats()
	for k := Kind(1); k < kindCount; k++ {
		ki := &kinds[k]
		if ki.name == "" || ki.counter == "" || ki.when == "" {
			t.Errorf("kind %d: name %q, counter %q, when %q: all are required", k, ki.name, ki.counter, ki.when)
		}
		if ki.status != 0 && (ki.status < 400 || ki.status > 599) {
			t.Errorf("%s: status %d is not an error status", ki.name, ki.status)
		}
		if o, dup := names[ki.name]; dup {
			t.Errorf("%s: name used by kind %d too", ki.name, o)
		}
		if o, dup := counters[ki.counter]; dup {
			t.Errorf("%s: counter %s used by %s too", ki.name, ki.counter, o)
		}
		names[ki.name], counters[ki.counter] = k, k
		if k.String() != ki.name || k.Status() != ki.status {
			t.Errorf("%s: String %q, Status %d disagree with the table", ki.name, k, k.Status())
		}
		before, ok := st.Set().Get(ki.counter)
		if !ok {
			t.Errorf("%s: counter %s is not registered", ki.name, ki.counter)
		}
		st.countFailure(k)
		if after, _ := st.Set().Get(ki.counter); after != before+1 {
			t.Errorf("%s: countFailure moved %s from %d to %d, want +1", ki.name, ki.counter, before, after)
		}
	}
	if Kind(0).String() != "unknown" || kindCount.String() != "unknown" || Kind(0).Status() != 500 {
		t.Errorf("out-of-table kinds: %q %q %d, want unknown, unknown, 500", Kind(0), kindCount, Kind(0).Status())
	}
}

// TestErrorReply checks the status and body each kind of cause answers
// with: the kind's name and the cause, or the codec's verdict.
func TestErrorReply(t *testing.T) {
	cl := &upstream.Cluster{Spec: upstream.ClusterSpec{Name: "origin"}}
	tests := []struct {
		e      Error
		status int
		body   string
	}{
		{Error{Source: Internal, Kind: KindNoRoute, Err: errNoRouteMatched}, 404, "no_route: no route matched\n"},
		{Error{Source: Internal, Kind: KindNoRoute, Err: (*errNoRouteTable)(&Factory{routerName: "r1"})}, 404, "no_route: no route table r1\n"},
		{Error{Source: Internal, Kind: KindNoCluster, Err: (*errNoCluster)(&router.ClusterAction{Cluster: "gone"})}, 503, "no_cluster: cluster gone not found\n"},
		{Error{Source: Upstream, Kind: KindNoHealthyHost, Err: (*errNoHealthy)(cl)}, 503, "no_healthy_upstream: no healthy upstream in origin\n"},
		{Error{Source: Upstream, Kind: KindOverflow, Err: (*errPoolBusy)(cl)}, 503, "overflow: too many requests waiting for origin\n"},
		{Error{Source: Upstream, Kind: KindConnectFailed, Err: (*errConnect)(cl)}, 503, "upstream_connect_failed: could not connect to an upstream of origin\n"},
		{Error{Source: Upstream, Kind: KindUpstreamTimeout, Err: errUpstreamSlow}, 504, "upstream_timeout: upstream did not answer in time\n"},
		{Error{Source: Downstream, Kind: KindRequestTimeout, Err: errRequestSlow}, 408, "request_timeout: the request was not received in time\n"},
		{Error{Source: Downstream, Kind: KindBodyTooLarge, Err: errBodyTooLarge}, 413, "request_body_too_large: the request body is larger than the limit\n"},
		{Error{Source: Downstream, Kind: KindOverflow, Err: &spillError{"the request body could not be buffered", errors.New("disk full")}}, 503, "overflow: the request body could not be buffered\n"},
		{Error{Source: Downstream, Kind: KindBadRequest, Err: &http1.Error{Status: 431, Reason: "too many fields"}}, 431, "Request Header Fields Too Large: too many fields\n"},
		{Error{Source: Downstream, Kind: KindBadRequest, Err: fmt.Errorf("wrapped: %w", &http1.Error{Status: 505, Reason: "HTTP/3.0"})}, 505, "HTTP Version Not Supported: HTTP/3.0\n"},
		{Error{Source: Downstream, Kind: KindBadRequest, Err: errBadTarget}, 400, "Bad Request: " + errBadTarget.Error() + "\n"},
		{Error{Source: Internal, Kind: KindFilterPanic, Err: errFilterPanic}, 500, "internal error: filter panic\n"},
	}
	for _, tc := range tests {
		r := tc.e.reply()
		wantExtra := ""
		if tc.e.Kind == KindOverflow {
			wantExtra = "x-ferry-overloaded: true\r\n"
		}
		if r.status != tc.status || r.body != tc.body || r.extra != wantExtra {
			t.Errorf("%v: reply %d %q %q, want %d %q", &tc.e, r.status, r.body, r.extra, tc.status, tc.body)
		}
	}
	e := &Error{Source: Upstream, Kind: KindUpstreamReset, Retryable: true, Err: errUpstreamClosed}
	if got := e.Error(); got != "proxy: upstream: upstream_reset: "+errUpstreamClosed.Error() || !errors.Is(e, errUpstreamClosed) {
		t.Errorf("Error() = %q, Is(cause) = %v", got, errors.Is(e, errUpstreamClosed))
	}
	if got := (&Error{Source: Internal, Kind: KindNoRoute}).Error(); got != "proxy: internal: no_route" {
		t.Errorf("Error() without a cause = %q", got)
	}
	lost := &spillError{"x", errors.New("disk full")}
	if !strings.Contains(lost.Unwrap().Error(), "disk full") {
		t.Errorf("spillError hides its cause")
	}
}

var errorSink Error //nolint:gochecknoglobals // keeps the Error from being optimised away

// TestErrorBuildsFree pins that building the Error of a failure allocates
// nothing: the causes are sentinels or pointers to the configuration they
// name, so the failure path costs what the reply's body costs.
func TestErrorBuildsFree(t *testing.T) {
	cl := &upstream.Cluster{Spec: upstream.ClusterSpec{Name: "origin"}}
	f := &Factory{routerName: "r"}
	if n := testing.AllocsPerRun(100, func() {
		errorSink = Error{Source: Internal, Kind: KindNoRoute, Err: errNoRouteMatched}
		errorSink = Error{Source: Internal, Kind: KindNoRoute, Err: (*errNoRouteTable)(f)}
		errorSink = Error{Source: Upstream, Kind: KindNoHealthyHost, Err: (*errNoHealthy)(cl)}
		errorSink = Error{Source: Upstream, Kind: KindConnectFailed, Err: (*errConnect)(cl)}
	}); n != 0 {
		t.Fatalf("building an Error allocates %v times, want 0", n)
	}
}

// TestReplyAllocs pins what a local reply's body costs: one allocation,
// the body itself (BenchmarkProxyNoRoute measures the whole 404).
func TestReplyAllocs(t *testing.T) {
	e := Error{Source: Internal, Kind: KindNoRoute, Err: errNoRouteMatched}
	var r pendingReply
	if n := testing.AllocsPerRun(100, func() { r = e.reply() }); n != 1 {
		t.Fatalf("a no_route reply allocates %v times, want 1 (its body)", n)
	}
	if r.body != "no_route: no route matched\n" {
		t.Fatalf("body %q", r.body)
	}
}
