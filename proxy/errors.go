package proxy

import "fmt"

// Source says which side an error came from.
type Source uint8

// Sources.
const (
	Downstream Source = iota + 1
	Upstream
	Internal
)

func (s Source) String() string {
	switch s {
	case Downstream:
		return "downstream"
	case Upstream:
		return "upstream"
	case Internal:
		return "internal"
	}
	return "unknown"
}

// Kind classifies a proxy failure; it picks the local reply's status.
type Kind uint8

// Kinds, with the status each answers.
const (
	KindBadRequest      Kind = iota + 1 // 4xx from the codec's verdict
	KindNoRoute                         // 404
	KindNoCluster                       // 503: the route names a cluster that does not exist
	KindNoHealthyHost                   // 503
	KindOverflow                        // 503: pending queue or worker pool full
	KindConnectFailed                   // 503
	KindUpstreamTimeout                 // 504
	KindBadResponse                     // 502: malformed upstream reply
	KindUpstreamReset                   // 502: upstream closed before a complete head
	KindBodyTooLarge                    // 413
	KindRequestTimeout                  // 408
)

var kindStatus = [...]int{ //nolint:gochecknoglobals // read-only
	KindBadRequest: 400, KindNoRoute: 404, KindNoCluster: 503, KindNoHealthyHost: 503,
	KindOverflow: 503, KindConnectFailed: 503, KindUpstreamTimeout: 504,
	KindBadResponse: 502, KindUpstreamReset: 502, KindBodyTooLarge: 413, KindRequestTimeout: 408,
}

var kindNames = [...]string{ //nolint:gochecknoglobals // read-only
	KindBadRequest: "bad_request", KindNoRoute: "no_route", KindNoCluster: "no_cluster",
	KindNoHealthyHost: "no_healthy_upstream", KindOverflow: "overflow",
	KindConnectFailed: "upstream_connect_failed", KindUpstreamTimeout: "upstream_timeout",
	KindBadResponse: "upstream_bad_response", KindUpstreamReset: "upstream_reset",
	KindBodyTooLarge: "request_body_too_large", KindRequestTimeout: "request_timeout",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// Status is the HTTP status a local reply for this kind carries.
func (k Kind) Status() int {
	if int(k) < len(kindStatus) && kindStatus[k] != 0 {
		return kindStatus[k]
	}
	return 500
}

// Error is a proxy failure: where it came from, what kind, whether a retry
// may help, and the cause.
type Error struct {
	Source    Source
	Kind      Kind
	Retryable bool
	Err       error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("proxy: %s: %s", e.Source, e.Kind)
	}
	return fmt.Sprintf("proxy: %s: %s: %v", e.Source, e.Kind, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
