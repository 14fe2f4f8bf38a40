// Package conformance is ferry's raw-socket HTTP/1.1 conformance suite. It
// holds tests only: one ferry, started in-process from a MOSN-format
// configuration through internal/app, sits in front of one recording
// upstream; each case writes raw bytes to ferry and checks both what the
// client got back (statuses, bodies, whether the connection closed) and the
// exact requests that reached the upstream (request line, field lines,
// decoded body).
//
// The cases are drawn from RFC 9110 and RFC 9112 and from the request
// smuggling and parser test tables of Go's net/http, Envoy, nginx, HAProxy
// and llhttp. Each names the rule it checks. Upstream-side cases route the
// request to a scripted response by path ("/s/<script>"); see scripts in
// upstream_test.go.
//
// Run it with
//
//	go test ./internal/conformance/ -v -run TestConformance
//
// It prints "conformance: N passed, M failed" and fails when M > 0.
//
// TestH2Spec runs h2spec (all 145 tests of RFC 7540 and RFC 7541) against
// an Http2 listener, and TestH2SpecOverTLS against the same listener
// terminating TLS (h2 by ALPN; h2spec -t -k): make test builds h2spec into
// bin/ and names it in FERRY_H2SPEC; without that variable the tests skip.
package conformance
