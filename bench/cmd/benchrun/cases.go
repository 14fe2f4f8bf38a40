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
// protocol.
type benchCase struct {
	ID      string // short name used by -cases and in the report
	Title   string // human description
	Proto   proto  // protocol and load generator
	Path    string // request path; chooses the body size at the upstream
	Conns   int    // concurrent connections
	Threads int    // load generator threads (wrk -t, h2load -t)
	Close   bool   // "Connection: close": a new connection per request
	Streams int    // h2load -m: concurrent streams per connection
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
		// Last so that the report fixtures' case indices stay put.
		{ID: "1m-c50", Proto: protoH1, Title: "1 MiB body, 50 conns", Path: "/size/1048576", Conns: 50, Threads: 1},
	}
}

// quickCaseIDs is the subset -quick runs.
func quickCaseIDs() []string { return []string{"1k-c50", "64k-c50", "1k-c500", "h2-1k-c50"} }

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
			!slices.ContainsFunc(allSlowCases(), func(c slowCase) bool { return c.ID == id }) {
			var known []string
			for _, c := range all {
				known = append(known, c.ID)
			}
			for _, c := range allSlowCases() {
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
	targetNginx     = "nginx"
	targetHAProxy   = "haproxy"
)

// allTargetNames lists the targets in interleaving and report order.
func allTargetNames() []string {
	return []string{targetDirect, targetForwarder, targetFerryAuto, targetFerryPool, targetNginx, targetHAProxy}
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
// connection.
func idleTested(t string) bool { return t != targetForwarder }

// target is a running server under test.
type target struct {
	Name   string
	H1Addr string   // HTTP/1.1 listener
	H2Addr string   // h2c (prior knowledge) listener; "" if none
	proc   *process // root of the measured process tree
}

// addrFor returns the listener for p, or "" when the target lacks it.
func (t *target) addrFor(p proto) string {
	if p == protoH2 {
		return t.H2Addr
	}
	return t.H1Addr
}
