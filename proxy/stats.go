package proxy

import (
	"sync/atomic"

	"github.com/ferry-proxy/ferry/internal/stats"
)

// Stats are the proxy's counters. Every field is safe from any goroutine.
type Stats struct {
	set *stats.Set

	requests, routed, direct, redirects, retries, timeouts *stats.Counter
	aborted, hops, workerBusy, panics, idleClosed          *stats.Counter
	pipelineOverflow, downstreamStalls                     *stats.Counter
	upstreamConns, h2Conns, h2ConnErrors, h2Abuse          *stats.Counter
	filterReplyDropped                                     *stats.Counter
	active                                                 *stats.Gauge
	// workerWaiting counts the streams waiting for a worker (schedule.go).
	workerWaiting *stats.Gauge
	// failures are the counters of the failure kinds (errors.go), by Kind.
	failures [kindCount]*stats.Counter
	// retryStats count retries and overload replies (retry.go).
	retryStats
	// mirrorStats count request mirroring (mirror.go).
	mirrorStats
	// connectTunnels counts the CONNECT tunnels opened (connect.go).
	connectTunnels *stats.Counter
	// tunnelHigh is the most bytes one ended tunnel's relay held in
	// memory (upgrade.go: OnRelayEnd).
	tunnelHigh atomic.Int64
}

func newStats() *Stats {
	s := stats.NewSet()
	st := &Stats{
		set:              s,
		requests:         s.Counter("downstream_rq_total"),
		routed:           s.Counter("downstream_rq_routed"),
		direct:           s.Counter("downstream_rq_direct_response"),
		redirects:        s.Counter("downstream_rq_redirect"),
		retries:          s.Counter("upstream_rq_retry"),
		timeouts:         s.Counter("upstream_rq_timeout"),
		aborted:          s.Counter("downstream_rq_aborted"),
		hops:             s.Counter("scheduler_worker_hops"),
		workerBusy:       s.Counter("scheduler_worker_busy"),
		panics:           s.Counter("scheduler_filter_panics"),
		idleClosed:       s.Counter("downstream_cx_idle_timeout"),
		pipelineOverflow: s.Counter("downstream_rq_pipeline_overflow"),
		downstreamStalls: s.Counter("downstream_cx_write_stalls"),
		upstreamConns:    s.Counter("upstream_cx_total"),
		h2Conns:          s.Counter("downstream_cx_http2_total"),
		h2ConnErrors:     s.Counter("downstream_cx_http2_protocol_error"),
		h2Abuse:          s.Counter("downstream_cx_http2_backlog_overflow"),
		active:           s.Gauge("downstream_rq_active"),
		workerWaiting:    s.Gauge("scheduler_worker_waiting"),

		filterReplyDropped: s.Counter("filter_reply_dropped"),
		connectTunnels:     s.Counter("downstream_rq_connect_tunnel"),
	}
	st.retryStats = newRetryStats(s)
	st.mirrorStats = newMirrorStats(s)
	for k := Kind(1); k < kindCount; k++ {
		st.failures[k] = s.Counter(kinds[k].counter)
	}
	return st
}

// countFailure counts a failure in its kind's counter.
func (st *Stats) countFailure(k Kind) {
	if k > 0 && k < kindCount {
		st.failures[k].Inc()
	}
}

// noteTunnelHigh records an ended relay's memory high mark.
func (st *Stats) noteTunnelHigh(n int) {
	for hm := int64(n); ; {
		cur := st.tunnelHigh.Load()
		if hm <= cur || st.tunnelHigh.CompareAndSwap(cur, hm) {
			return
		}
	}
}

// TunnelHighMark is the most bytes one tunnel (an upgrade after its 101,
// a CONNECT after its 200) held in memory, over the tunnels that ended:
// the relay's spill queues bound it (internal/relay). Any goroutine.
func (st *Stats) TunnelHighMark() int64 { return st.tunnelHigh.Load() }

// Set exposes the named counters (admin, tests). Any goroutine.
func (st *Stats) Set() *stats.Set { return st.set }

// Active is the number of requests in flight. Any goroutine.
func (st *Stats) Active() int64 { return st.active.Load() }
