package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
)

// idleTLSCaseID is the idle TLS memory case: like the idle keep-alive test
// (idleTest), over each target's TLS listener. Each connection does a full
// TLS 1.3 handshake (ECDSA P-256, the same certificate everywhere, ALPN
// http/1.1), one GET /0, then idles; the figure is the RSS growth per
// connection, against nginx's (issue 11: "RSS per idle TLS connection ≤
// nginx's").
const idleTLSCaseID = "idle-tls"

const idleTLSTitle = "idle TLS connections: handshake, one GET /0, then idle (RSS per connection, -idle-tls N)"

// idleTLSWanted reports whether the run measures idle TLS connections: the
// case selected (or every case) and -idle-tls above 0.
func (b *bench) idleTLSWanted() bool {
	return b.cfg.idleTLSConns > 0 && (len(b.cfg.caseIDs) == 0 || slices.Contains(b.cfg.caseIDs, idleTLSCaseID))
}

// runIdleTLS runs the idle-tls case on every target with a TLS listener
// that the idle test covers (idleTested).
func (b *bench) runIdleTLS(ctx context.Context, targets []*target) error {
	if !b.idleTLSWanted() {
		return nil
	}
	if b.tls == nil {
		b.note("case %s skipped: no TLS certificate (see the note above)", idleTLSCaseID)
		return nil
	}
	for _, t := range targets {
		if !idleTested(t.Name) {
			continue
		}
		if t.TLSAddr == "" {
			b.note("case %s: %s has no TLS listener", idleTLSCaseID, t.Name)
			continue
		}
		r := b.idleTest(ctx, t, t.TLSAddr, b.cfg.idleTLSConns, "-tls")
		b.logIdle("idle TLS", r)
		b.rep.IdleTLS = append(b.rep.IdleTLS, r)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) logIdle(what string, r idleResult) {
	b.logf("%s %-10s %d conns: %s -> %s, %.2f KiB/conn %s", what, r.Target, r.Conns,
		fmtMiB(r.BeforeKiB), fmtMiB(r.AfterKiB), r.perConnKiB(), r.Err)
}

// idleTLSGoal is issue 11's idle TLS memory target: ferry's KiB per idle
// TLS connection at most nginx's.
const idleTLSGoal = "RSS per idle TLS conn ≤ nginx's"

// writeIdleTLSGoal adds the idle TLS goal's row to the goals table.
func writeIdleTLSGoal(b *strings.Builder, r *report, others []string) {
	if len(r.IdleTLS) == 0 {
		return
	}
	n := idleOf(r.IdleTLS, targetNginx)
	fmt.Fprintf(b, "| %s | %s |", idleTLSGoal, fmtKiBPerConn(n))
	for _, t := range others {
		v := idleOf(r.IdleTLS, t).perConnKiB()
		switch ratio := v / n.perConnKiB(); {
		case math.IsNaN(v): // failed or not run
			b.WriteString(" not measured |")
		case math.IsNaN(ratio): // nginx's failed or not run
			fmt.Fprintf(b, " %.2f KiB |", v)
		default:
			fmt.Fprintf(b, " %.2f KiB (%.2f×) %s |", v, ratio, mark(ratio <= 1))
		}
	}
	b.WriteString("\n")
}
