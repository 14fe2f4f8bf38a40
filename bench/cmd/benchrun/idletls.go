package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
)

// idleTLSCase is an idle TLS memory case: like the idle keep-alive test
// (idleTest), over each target's TLS listener. Each connection does a full
// TLS 1.3 handshake (ECDSA P-256, the same certificate everywhere), one
// GET /0, then idles; the figure is the RSS growth per connection, against
// nginx's (issue 11: "RSS per idle TLS connection ≤ nginx's").
type idleTLSCase struct {
	ID, Title string
	Proto     string   // the ALPN protocol the connections speak
	Args      []string // idleconns flags
}

// idleTLSCases lists the idle TLS cases in report order.
func idleTLSCases() []idleTLSCase {
	return []idleTLSCase{
		{ID: "idle-tls", Proto: "http/1.1", Args: []string{"-tls"},
			Title: "idle TLS connections, ALPN http/1.1: handshake, one GET /0, then idle (RSS per connection, -idle-tls N)"},
		{ID: "idle-tls-h2", Proto: "h2", Args: []string{"-tls", "-h2"},
			Title: "idle TLS connections, ALPN h2: handshake, one GET /0 on stream 1, then idle (RSS per connection, -idle-tls N)"},
	}
}

// isIdleTLSCase reports whether id names an idle TLS case.
func isIdleTLSCase(id string) bool {
	return slices.ContainsFunc(idleTLSCases(), func(c idleTLSCase) bool { return c.ID == id })
}

// idleTLSSelected returns the idle TLS cases the run measures: those
// selected (all when every case is), none when -idle-tls is 0.
func (b *bench) idleTLSSelected() []idleTLSCase {
	if b.cfg.idleTLSConns <= 0 {
		return nil
	}
	var out []idleTLSCase
	for _, c := range idleTLSCases() {
		if len(b.cfg.caseIDs) == 0 || slices.Contains(b.cfg.caseIDs, c.ID) {
			out = append(out, c)
		}
	}
	return out
}

// runIdleTLS runs the selected idle TLS cases on every target with a TLS
// listener that the idle test covers (idleTested). Each starts on freshly
// started proxies (with -fresh): memory another idle test left free in a
// process would be reused and hide the growth. The load cases after them
// start fresh too.
func (b *bench) runIdleTLS(ctx context.Context, targets []*target) error {
	restart := func(next string) error {
		if !b.cfg.fresh {
			b.note("%s ran on proxies not restarted (-fresh=false): memory the idle test before it freed is reused, so its figure is low", next)
			return nil
		}
		b.logf("restarting the proxies before %s", next)
		return b.restartTargets(ctx, next)
	}
	cases := b.idleTLSSelected()
	for i, c := range cases {
		if b.tls == nil {
			b.note("case %s skipped: no TLS certificate (see the note above)", c.ID)
			continue
		}
		if i > 0 || b.cfg.idleConns > 0 {
			if err := restart(c.ID); err != nil {
				return err
			}
		}
		for _, t := range targets {
			if !idleTested(t.Name) {
				continue
			}
			if t.TLSAddr == "" {
				b.note("case %s: %s has no TLS listener", c.ID, t.Name)
				continue
			}
			r := b.idleTest(ctx, t, t.TLSAddr, b.cfg.idleTLSConns, c.Args...)
			r.Case = c.ID
			b.logIdle(c.ID, r)
			b.rep.IdleTLS = append(b.rep.IdleTLS, r)
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if len(cases) > 0 && b.tls != nil && len(b.rep.Cases) > 0 && b.cfg.fresh {
		b.logf("restarting the proxies before %s", b.rep.Cases[0].ID)
		return b.restartTargets(ctx, b.rep.Cases[0].ID)
	}
	return nil
}

func (b *bench) logIdle(what string, r idleResult) {
	b.logf("%s %-10s %d conns: %s -> %s, %.2f KiB/conn %s", what, r.Target, r.Conns,
		fmtMiB(r.BeforeKiB), fmtMiB(r.AfterKiB), r.perConnKiB(), r.Err)
}

// idleTLSOf returns the results of case id.
func idleTLSOf(rs []idleResult, id string) []idleResult {
	var out []idleResult
	for _, r := range rs {
		if r.Case == id {
			out = append(out, r)
		}
	}
	return out
}

// writeIdleTLSGoals adds issue 11's idle TLS goal, ferry's KiB per idle
// TLS connection at most nginx's, to the goals table: a row per case run.
func writeIdleTLSGoals(b *strings.Builder, r *report, others []string) {
	for _, c := range idleTLSCases() {
		rs := idleTLSOf(r.IdleTLS, c.ID)
		if len(rs) == 0 {
			continue
		}
		n := idleOf(rs, targetNginx)
		fmt.Fprintf(b, "| RSS per idle TLS conn (%s) ≤ nginx's | %s |", c.Proto, fmtKiBPerConn(n))
		for _, t := range others {
			v := idleOf(rs, t).perConnKiB()
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
}

// writeIdleTLS writes a table per idle TLS case run.
func writeIdleTLS(b *strings.Builder, r *report) {
	for _, c := range idleTLSCases() {
		writeIdleTable(b, idleTLSOf(r.IdleTLS, c.ID), "## Idle TLS connections, ALPN "+c.Proto+" ("+c.ID+")\n\n"+
			"Each connection does a full TLS handshake (ECDSA P-256; `bench/idleconns "+strings.Join(c.Args, " ")+"`), "+
			"sends one `GET /0` and reads the response, then stays open and idle; "+
			"RSS is summed over the target's process tree before and after.\n\n")
	}
}
