package proxy

import (
	"time"

	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/upstream"
)

// The per-label metrics (Options.Metrics, internal/metrics): every update
// is a plain add on the cells of the stream's loop's shard, so every one
// of these runs on the loop. Phases that may run on a worker (the filter
// phases, MatchRoute among them) only record what the loop counts later:
// the route is counted when the stream ends, the failure's cause (fail)
// and the local reply's status (writeReply) likewise. With no registry
// each is one nil check.

// streamMetrics is a request's metrics state; it lives in requestState,
// so the one reset clears it.
type streamMetrics struct {
	// start is the loop clock when the request began.
	start int64
	// status is the status of the local reply written, 0 for none (the
	// upstream's response then says).
	status int
	// cause is the failure answered with a local reply, 0 for none.
	// Owner: fail may run on a worker; End reads it on the loop after the
	// hand-back.
	cause Kind
	// cluster and host are the cells of the upstream attempt in flight,
	// nil between attempts; upStart is when it got its connection.
	cluster *metrics.Cluster
	host    *metrics.Host
	upStart int64
	// pending is the cluster whose pending gauge counts this stream while
	// it waits for a connection.
	pending *metrics.Cluster
}

// shard is the stream's loop's shard, or nil with metrics off.
func (s *stream) shard() *metrics.Shard {
	if r := s.srv.opts.Metrics; r != nil {
		return r.Shard(s.loop.Index)
	}
	return nil
}

// mBegin counts the request on its listener (begin). Loop only.
func (s *stream) mBegin() {
	if sh := s.shard(); sh != nil {
		l := sh.Listener(s.d.f.metricsID)
		l.Requests.Inc()
		l.ActiveRequests.Inc()
		s.m.start = s.loop.Now()
	}
}

// mEnd counts the end of a request that mBegin counted: its status on
// the listener and its virtual host, its duration, the local reply's
// cause, and the end of any upstream attempt. Loop only.
func (s *stream) mEnd() {
	sh := s.shard()
	if sh == nil {
		return
	}
	s.mUpEnd()
	s.mUnpend()
	status := s.m.status
	if status == 0 && s.respSent {
		status = s.resp.Status
	}
	l := sh.Listener(s.d.f.metricsID)
	l.ActiveRequests.Dec()
	l.Respond(status)
	l.Duration.Observe(time.Duration(s.loop.Now() - s.m.start))
	if s.m.cause != 0 && s.m.cause.Status() != 0 {
		l.LocalReply(int(s.m.cause))
	}
	if s.route != nil {
		r := sh.Route(metrics.ID(s.route.MetricsID()))
		r.Requests.Inc()
		r.Responses.Count(status)
	}
}

// mUpStart counts an upstream attempt that got its connection
// (OnPoolReady), on the cluster and the host, and makes the connection
// count its bytes on the cluster. Loop only.
func (s *stream) mUpStart(pc *upstream.PooledConn[*upConn]) {
	if c := s.mUpCount(pc.Host()); c != nil {
		pc.C.SetByteCounters(&c.BytesReceived, &c.BytesSent)
	}
}

// mUpStartH2 is mUpStart for a stream on an HTTP/2 upstream connection.
func (s *stream) mUpStartH2(mc *upstream.MuxConn[*h2up]) {
	if c := s.mUpCount(mc.Host()); c != nil {
		mc.C.SetByteCounters(&c.BytesReceived, &c.BytesSent)
	}
}

// mUpCount is what mUpStart and mUpStartH2 share: it counts the attempt
// on the cluster and on host, starts its clock, and returns the cluster's
// cells for the connection's byte counters (nil without metrics).
func (s *stream) mUpCount(host *upstream.Host) *metrics.Cluster {
	sh := s.shard()
	if sh == nil {
		return nil
	}
	s.mUnpend()
	c := sh.Cluster(metrics.ID(s.cluster.Spec.MetricsID))
	h := sh.Host(metrics.ID(host.MetricsID()))
	c.Requests.Inc()
	c.ActiveRequests.Inc()
	h.Requests.Inc()
	h.ActiveRequests.Inc()
	s.m.cluster, s.m.host, s.m.upStart = c, h, s.loop.Now()
	return c
}

// mUpEnd ends the upstream attempt in flight (detachUpstream): its
// response's class, and its response time when the response is whole.
// Loop only.
func (s *stream) mUpEnd() {
	c, h := s.m.cluster, s.m.host
	if c == nil {
		return
	}
	s.m.cluster, s.m.host = nil, nil
	c.ActiveRequests.Dec()
	h.ActiveRequests.Dec()
	if s.resp.Status >= 200 {
		c.Responses.Count(s.resp.Status)
		h.Responses.Count(s.resp.Status)
	}
	if s.respState == stateDone {
		c.ResponseTime.Observe(time.Duration(s.loop.Now() - s.m.upStart))
	}
}

// mPending counts the stream as waiting for a connection of its cluster.
// Loop only.
func (s *stream) mPending() {
	if sh := s.shard(); sh != nil && s.m.pending == nil {
		s.m.pending = sh.Cluster(metrics.ID(s.cluster.Spec.MetricsID))
		s.m.pending.Pending.Inc()
	}
}

// mUnpend ends mPending's count. Loop only.
func (s *stream) mUnpend() {
	if c := s.m.pending; c != nil {
		c.Pending.Dec()
		s.m.pending = nil
	}
}

// mConnectFailed counts a failed connection attempt on the cluster and
// the host. Loop only.
func (s *stream) mConnectFailed() {
	if sh := s.shard(); sh != nil && s.host != nil {
		sh.Cluster(metrics.ID(s.cluster.Spec.MetricsID)).ConnectFailures.Inc()
		sh.Host(metrics.ID(s.host.MetricsID())).ConnectFailures.Inc()
	}
}

// mRetry and mTimeout count a retry and an upstream timeout on the
// cluster. Loop only.
func (s *stream) mRetry() {
	if sh := s.shard(); sh != nil && s.cluster != nil {
		sh.Cluster(metrics.ID(s.cluster.Spec.MetricsID)).Retries.Inc()
	}
}

func (s *stream) mTimeout() {
	if sh := s.shard(); sh != nil && s.cluster != nil {
		sh.Cluster(metrics.ID(s.cluster.Spec.MetricsID)).Timeouts.Inc()
	}
}

// mConnOpen and mConnClose count a client connection on its listener and
// make it count its bytes there. Loop only.
func (d *downstream) mConnOpen() {
	if r := d.f.srv.opts.Metrics; r != nil && !d.mCounted {
		l := r.Shard(d.c.Loop().Index).Listener(d.f.metricsID)
		l.Connections.Inc()
		l.ActiveConnections.Inc()
		d.c.SetByteCounters(&l.BytesReceived, &l.BytesSent)
		d.mCounted = true
	}
}

func (d *downstream) mConnClose() {
	if d.mCounted {
		d.f.srv.opts.Metrics.Shard(d.c.Loop().Index).Listener(d.f.metricsID).ActiveConnections.Dec()
		d.mCounted = false
	}
}

// mUpConnOpen and mUpConnClose count an upstream connection on its host.
// Loop only.
func (u *upConn) mUpConnOpen(r *metrics.Registry) {
	if r != nil {
		u.mHost = r.Shard(u.pc.C.Loop().Index).Host(metrics.ID(u.pc.Host().MetricsID()))
		u.mHost.ActiveConnections.Inc()
	}
}

func (u *upConn) mUpConnClose() {
	if h := u.mHost; h != nil {
		h.ActiveConnections.Dec()
		u.mHost = nil
	}
}
