package main

import (
	"fmt"
	"slices"
	"strings"
)

// proto is the protocol a case speaks to the target.
type proto uint8

const (
	// protoH1 is HTTP/1.1 driven by wrk.
	protoH1 proto = iota
	// protoH2 is HTTP/2 cleartext with prior knowledge, driven by h2load.
	protoH2
)

// benchCase is one load shape, run against every target that speaks its
// protocol (or, for a variant case, against the targets it names).
type benchCase struct {
	ID      string // short name used by -cases and in the report
	Title   string // human description
	Proto   proto  // protocol and load generator
	Path    string // request path; chooses the body size at the upstream
	Conns   int    // concurrent connections
	Threads int    // load generator threads (wrk -t, h2load -t)
	Close   bool   // "Connection: close": a new connection per request
	Streams int    // h2load -m: concurrent streams per connection
	// TLS sends the load to the targets' TLS listener (https://; h2 by
	// ALPN for protoH2), all of them with the same ECDSA P-256 certificate.
	TLS bool
	// Pipeline > 0 makes wrk write this many requests at once on each
	// connection (a Lua script) and wait for all the responses.
	Pipeline int
	// STime is "new" or "reuse": openssl s_time, one TLS connection at a
	// time, each a full handshake ("new") or a resumed session ("reuse").
	STime string
	// Targets, when set, are the only targets the case runs on (variant
	// cases: ferry with metrics or an access log beside ferry without).
	// nil means every base target.
	Targets []string
	// H2Upstream sends the proxies' upstream traffic to the h2c upstream
	// (bench/upstream -h2c): the proxy speaks HTTP/2 cleartext to its
	// upstream whatever the client speaks. Only the targets proxying
	// there (target.H2Up) can run it.
	H2Upstream bool
	// NoFile is the RLIMIT_NOFILE the case needs; it fails clearly when
	// the (raised) soft limit is lower.
	NoFile uint64
}

// tool names the load generator of c.
func (c benchCase) tool() string {
	switch {
	case c.STime != "":
		return "s_time"
	case c.Proto == protoH2:
		return "h2load"
	default:
		return "wrk"
	}
}

// allCases lists every case in report order.
func allCases() []benchCase {
	return []benchCase{
		{ID: "0b-c50", Proto: protoH1, Title: "0 B body, 50 conns", Path: "/0", Conns: 50, Threads: 1},
		{ID: "1k-c50", Proto: protoH1, Title: "1 KiB body, 50 conns", Path: "/1k", Conns: 50, Threads: 1},
		{ID: "64k-c50", Proto: protoH1, Title: "64 KiB body, 50 conns", Path: "/64k", Conns: 50, Threads: 1},
		{ID: "1k-c500", Proto: protoH1, Title: "1 KiB body, 500 conns", Path: "/1k", Conns: 500, Threads: 1},
		{ID: "1k-close-c50", Proto: protoH1, Title: "1 KiB body, new connection per request, 50 conns", Path: "/1k", Conns: 50, Threads: 1, Close: true},
		{ID: "h2-1k-c50", Title: "HTTP/2 h2c, 1 KiB body, 50 conns × 1 stream", Proto: protoH2, Path: "/1k", Conns: 50, Threads: 1, Streams: 1},
		{ID: "h2-1k-c50-m10", Title: "HTTP/2 h2c, 1 KiB body, 50 conns × 10 streams", Proto: protoH2, Path: "/1k", Conns: 50, Threads: 1, Streams: 10},
		// Last of the original cases so that the report fixtures' case
		// indices stay put; the newer cases follow.
		{ID: "1m-c50", Proto: protoH1, Title: "1 MiB body, 50 conns", Path: "/size/1048576", Conns: 50, Threads: 1},
		// 5,000 clients, each proxy holding as many upstream connections
		// at most: twice that in descriptors plus slack.
		{ID: "1k-c5000", Proto: protoH1, Title: "1 KiB body, 5,000 conns", Path: "/1k", Conns: 5000, Threads: 1, NoFile: 2*5000 + 1000},
		{ID: "pipeline-1k-c50", Proto: protoH1, Title: "1 KiB body, 50 conns, 16 pipelined requests per write", Path: "/1k", Conns: 50, Threads: 1, Pipeline: 16},
		{ID: "https-1k-c50", Proto: protoH1, TLS: true, Title: "HTTPS keep-alive, 1 KiB body, 50 conns", Path: "/1k", Conns: 50, Threads: 1},
		{ID: "https-newconn", Proto: protoH1, TLS: true, Close: true, Title: "HTTPS, a new TLS connection (full handshake) per request, 50 conns", Path: "/1k", Conns: 50, Threads: 1},
		{ID: "https-newconn-c1", Proto: protoH1, TLS: true, STime: "new", Title: "HTTPS, a full handshake per request, 1 conn at a time (openssl s_time -new)", Path: "/1k", Conns: 1, Threads: 1},
		{ID: "https-resume-c1", Proto: protoH1, TLS: true, STime: "reuse", Title: "HTTPS, a resumed session per request, 1 conn at a time (openssl s_time -reuse)", Path: "/1k", Conns: 1, Threads: 1},
		{ID: "h2-tls-1k-c50-m10", Proto: protoH2, TLS: true, Title: "HTTP/2 over TLS (ALPN h2), 1 KiB body, 50 conns × 10 streams", Path: "/1k", Conns: 50, Threads: 1, Streams: 10},
		{ID: "metrics-on", Proto: protoH1, Title: "1 KiB body, 50 conns: ferry with the prometheus sink on (scraped once per run) vs off", Path: "/1k", Conns: 50, Threads: 1,
			Targets: []string{targetFerryAuto, targetFerryMetrics}},
		{ID: "accesslog-on", Proto: protoH1, Title: "1 KiB body, 50 conns: an access log to a file vs none (ferry and nginx)", Path: "/1k", Conns: 50, Threads: 1,
			Targets: []string{targetFerryAuto, targetFerryAccessLog, targetNginx, targetNginxAccessLog}},
		{ID: "healthcheck-on", Proto: protoH1, Title: "1 KiB body, 50 conns: ferry with an HTTP health check on its upstream (every 100 ms) vs none", Path: "/1k", Conns: 50, Threads: 1,
			Targets: []string{targetFerryAuto, targetFerryHealth}},
		{ID: "h2load-c100-m100", Proto: protoH2, Title: "HTTP/2 h2c, 1 KiB body, 100 conns × 100 streams", Path: "/1k", Conns: 100, Threads: 1, Streams: 100},
		{ID: "h2load-c1000-m10", Proto: protoH2, Title: "HTTP/2 h2c, 1 KiB body, 1,000 conns × 10 streams", Path: "/1k", Conns: 1000, Threads: 1, Streams: 10},
		// HTTP/1.1 clients, HTTP/2 to the upstream (issue 11's performance
		// section): ferry and HAProxy proxying to the h2c upstream; nginx
		// is listed to show why it cannot.
		{ID: "h2up-1k-c50", Proto: protoH1, H2Upstream: true, Title: "1 KiB body, 50 conns (HTTP/1.1 keep-alive), the proxy speaking h2c to an HTTP/2 upstream",
			Path: "/1k", Conns: 50, Threads: 1, Targets: []string{targetFerryH2Up, targetNginx, targetHAProxyH2Up}},
	}
}

// quickCaseIDs is the subset -quick runs: the four original ones and one
// cheap new one (HTTPS keep-alive, which exercises every TLS listener).
func quickCaseIDs() []string {
	return []string{"1k-c50", "64k-c50", "1k-c500", "h2-1k-c50", "https-1k-c50"}
}

// selectCases returns the cases named in ids (all when ids is empty), in
// report order.
func selectCases(ids []string) ([]benchCase, error) {
	all := allCases()
	if len(ids) == 0 {
		return all, nil
	}
	var out []benchCase
	for _, c := range all {
		if slices.Contains(ids, c.ID) {
			out = append(out, c)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(c benchCase) bool { return c.ID == id }) &&
			!slices.ContainsFunc(allSlowCases(), func(c slowCase) bool { return c.ID == id }) && !isIdleTLSCase(id) {
			var known []string
			for _, c := range all {
				known = append(known, c.ID)
			}
			for _, c := range allSlowCases() {
				known = append(known, c.ID)
			}
			for _, c := range idleTLSCases() {
				known = append(known, c.ID)
			}
			return nil, fmt.Errorf("unknown case %q (known: %s)", id, strings.Join(known, ", "))
		}
	}
	return out, nil
}

// Target names, in report order. nginx is the reference for every ratio.
const (
	targetDirect    = "direct"
	targetForwarder = "forwarder"
	targetFerryAuto = "ferry-auto"
	targetFerryPool = "ferry-pool"
	// targetFerryB is ferry-auto's config run by a second binary
	// (-ferry-b): an A/B of two builds in one run, ratios to the same
	// nginx rounds. Without -ferry-b it does not run.
	targetFerryB = "ferry-b"
	// targetFerryMetrics is ferry-auto with the prometheus sink on.
	targetFerryMetrics = "ferry-metrics"
	// targetFerryAccessLog is ferry-auto with an access log to a file.
	targetFerryAccessLog = "ferry-accesslog"
	// targetFerryHealth is ferry-auto with an active HTTP health check
	// on its upstream host.
	targetFerryHealth = "ferry-hc"
	targetNginx       = "nginx"
	// targetNginxAccessLog is nginx with access_log to a file.
	targetNginxAccessLog = "nginx-accesslog"
	targetHAProxy        = "haproxy"
	// targetFerryH2Up is ferry-auto proxying with upstream_protocol
	// Http2 to the h2c upstream; only in h2up-1k-c50.
	targetFerryH2Up = "ferry-h2up"
	// targetHAProxyH2Up is the reference HAProxy with "proto h2" on its
	// backend server, the h2c upstream; only in h2up-1k-c50.
	targetHAProxyH2Up = "haproxy-h2up"
)

// allTargetNames lists the targets in interleaving and report order.
func allTargetNames() []string {
	return []string{targetDirect, targetForwarder, targetFerryAuto, targetFerryB, targetFerryPool, targetFerryMetrics,
		targetFerryAccessLog, targetFerryHealth, targetFerryH2Up, targetNginx, targetNginxAccessLog, targetHAProxy, targetHAProxyH2Up}
}

// isCeiling reports whether target t is a measuring stick rather than a
// proxy under test: direct (no proxy at all) and forwarder (bench/forwarder,
// the least a gnet proxy can do). The goals table gives them no marks and
// the upstream check does not count them as the fastest proxy; their case
// rows are reported like every other target's.
func isCeiling(t string) bool { return t == targetDirect || t == targetForwarder }

// idleTested reports whether the idle-connection memory test runs on
// target t. It skips the forwarder: its memory is no figure anyone compares,
// and each idle client would make it dial, and the upstream hold, one more
// connection. It skips the variants (metrics or an access log on): idle
// connections write no log lines and scrape nothing; and the h2c-upstream
// targets, whose idle clients cost what ferry-auto's and HAProxy's do.
func idleTested(t string) bool { return t != targetForwarder && !caseOnly(t) }

// variantOf returns the target a variant target is compared with (its
// "off" side), or "" for a base target. Variants run only in the cases
// that name them.
func variantOf(t string) string {
	switch t {
	case targetFerryMetrics, targetFerryAccessLog, targetFerryHealth:
		return targetFerryAuto
	case targetNginxAccessLog:
		return targetNginx
	}
	return ""
}

// caseOnly reports whether target t runs only in the cases that name it
// (benchCase.Targets): the variants, and the targets proxying to the h2c
// upstream. Every other target is a base target.
func caseOnly(t string) bool {
	return variantOf(t) != "" || t == targetFerryH2Up || t == targetHAProxyH2Up
}

// caseRunsOn reports whether case c is meant for target t: a case naming
// its targets on those, any other case on every base target.
func caseRunsOn(c benchCase, t string) bool {
	if c.Targets != nil {
		return slices.Contains(c.Targets, t)
	}
	return !caseOnly(t)
}

// naReason says why target t cannot run case c although c is meant for it
// (caseRunsOn), or "" when it can.
func naReason(t *target, c benchCase) string {
	if t.addrFor(c) != "" {
		return ""
	}
	switch {
	case c.H2Upstream && t.Name == targetNginx:
		return "nginx cannot proxy to an h2c upstream: proxy_pass speaks HTTP/1.x only (grpc_pass is gRPC-only)"
	case c.H2Upstream:
		return "does not proxy to the h2c upstream"
	case c.TLS && t.Name == targetDirect:
		return "the upstream speaks plain text only"
	case c.TLS && t.Name == targetForwarder:
		return "a byte copier: TLS would reach the plain-text upstream"
	case c.TLS:
		return "no TLS listener (certificate generation failed; see the notes)"
	case c.Proto == protoH2 && (t.Name == targetDirect || t.Name == targetForwarder):
		return "the upstream speaks HTTP/1.1 only"
	case c.Proto == protoH2:
		return "no h2c listener (-ferry-h2c=false)"
	}
	return "no listener for this protocol"
}

// target is a running server under test.
type target struct {
	Name   string
	H1Addr string // HTTP/1.1 listener
	H2Addr string // h2c (prior knowledge) listener; "" if none
	// TLSAddr is the TLS listener (HTTP/1.1 and h2 by ALPN); "" if none.
	TLSAddr string
	// H2Up says the target proxies to the h2c upstream: it runs the
	// H2Upstream cases (on H1Addr) and only those.
	H2Up bool
	// ScrapeURL, when set, is fetched once during every measured run
	// (ferry-metrics: the prometheus sink).
	ScrapeURL string
	logFiles  []string // access logs the target writes (truncated after each run)
	proc      *process // root of the measured process tree
}

// addrFor returns the listener for case c, or "" when the target lacks
// it.
func (t *target) addrFor(c benchCase) string {
	switch {
	case c.H2Upstream != t.H2Up:
		return ""
	case c.H2Upstream:
		return t.H1Addr
	case c.TLS:
		return t.TLSAddr
	case c.Proto == protoH2:
		return t.H2Addr
	}
	return t.H1Addr
}
