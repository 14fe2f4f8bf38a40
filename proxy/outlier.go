package proxy

// reportFailure tells the host's outlier detection of an upstream failure
// ferry detected itself (upstream/outlier.go): a failed connect, or the
// status standing in for a timeout (504) or a reset or malformed response
// (502), as Envoy maps local-origin failures when it does not split them.
// A failure about to be retried is not reported: a reused connection the
// upstream closed as we wrote says nothing of the host. Without
// outlier_detection the report costs a load and a nil check.
func (s *stream) reportFailure(e *Error) {
	if e.Source != Upstream || s.host == nil {
		return
	}
	switch e.Kind {
	case KindConnectFailed:
		s.host.ConnectFailed(s.loop)
	case KindUpstreamTimeout:
		s.host.Outcome(s.loop, 504)
	case KindUpstreamReset, KindBadResponse, KindUpstreamResetMidBody:
		s.host.Outcome(s.loop, 502)
	}
}
