package router

import (
	"errors"
	"fmt"
	"time"
)

// RetryOn is a set of conditions a retry policy retries on (Envoy's
// retry_on names).
type RetryOn uint8

// Retry conditions.
const (
	// Retry5xx: a 5xx response, or no response at all: a connect failure,
	// a reset before the response head, a per-try timeout.
	Retry5xx RetryOn = 1 << iota
	// RetryGatewayError: a 502, 503 or 504 response, or no response at all
	// (as Retry5xx).
	RetryGatewayError
	// RetryConnectFailure: the connection to the host could not be opened.
	RetryConnectFailure
	// RetryReset: the upstream closed or reset before the response head,
	// or the attempt passed its per-try timeout.
	RetryReset
	// RetryStatusCodes: a response whose status is in RetriableStatusCodes.
	RetryStatusCodes
)

// ParseRetryOn maps Envoy's condition names to a RetryOn. Any goroutine.
func ParseRetryOn(names []string) (RetryOn, error) {
	var on RetryOn
	for _, n := range names {
		switch n {
		case "5xx":
			on |= Retry5xx
		case "gateway-error":
			on |= RetryGatewayError
		case "connect-failure":
			on |= RetryConnectFailure
		case "reset":
			on |= RetryReset
		case "retriable-status-codes":
			on |= RetryStatusCodes
		default:
			return 0, fmt.Errorf("unknown retry condition %q", n)
		}
	}
	return on, nil
}

// Retry policy defaults: Envoy's back-off (base 25ms, max 10 times the
// base) and one retry; the replay buffer is ferry's.
const (
	DefaultRetryBackOffBase   = 25 * time.Millisecond
	DefaultRetryBufferLimit   = 64 << 10
	defaultRetryBackOffFactor = 10
)

// RetryPolicy is a route's retry_policy (proxy/retry.go applies it).
// Zero fields take the defaults above when the route is built.
type RetryPolicy struct {
	// On says what is retried; zero retries nothing.
	On RetryOn
	// NumRetries is the number of retries after the first attempt; 0
	// means 1.
	NumRetries int
	// PerTryTimeout bounds each attempt; 0 leaves the route timeout alone.
	PerTryTimeout time.Duration
	// RetriableStatusCodes are the statuses RetryStatusCodes retries.
	RetriableStatusCodes []int
	// BackOffBase and BackOffMax shape the exponential back-off with full
	// jitter between attempts: attempt n waits a random time in [0,
	// min(BackOffMax, BackOffBase × 2^n)). 0 means 25ms, and 10 times the
	// base.
	BackOffBase, BackOffMax time.Duration
	// BufferLimit bounds the request body kept for a replay; a longer body
	// is not retried. 0 means 64 KiB.
	BufferLimit int
	// NonIdempotent retries non-idempotent methods (POST, PATCH, ...) too.
	NonIdempotent bool
}

// RetriableStatus reports whether status is one of RetriableStatusCodes.
// Any goroutine.
func (p *RetryPolicy) RetriableStatus(status int) bool {
	for _, c := range p.RetriableStatusCodes {
		if c == status {
			return true
		}
	}
	return false
}

// withDefaults validates p and returns a copy with defaults applied.
func (p RetryPolicy) withDefaults() (*RetryPolicy, error) {
	switch {
	case p.NumRetries < 0:
		return nil, fmt.Errorf("negative num_retries %d", p.NumRetries)
	case p.PerTryTimeout < 0 || p.BackOffBase < 0 || p.BackOffMax < 0:
		return nil, errors.New("negative retry duration")
	case p.BufferLimit < 0:
		return nil, fmt.Errorf("negative retry buffer limit %d", p.BufferLimit)
	}
	if p.NumRetries == 0 {
		p.NumRetries = 1
	}
	if p.BackOffBase == 0 {
		p.BackOffBase = DefaultRetryBackOffBase
	}
	if p.BackOffMax == 0 {
		p.BackOffMax = defaultRetryBackOffFactor * p.BackOffBase
	}
	if p.BackOffMax < p.BackOffBase {
		return nil, fmt.Errorf("retry back-off max %v below its base %v", p.BackOffMax, p.BackOffBase)
	}
	if p.BufferLimit == 0 {
		p.BufferLimit = DefaultRetryBufferLimit
	}
	p.RetriableStatusCodes = append([]int(nil), p.RetriableStatusCodes...)
	return &p, nil
}
