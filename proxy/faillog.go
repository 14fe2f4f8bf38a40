package proxy

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ferry-proxy/ferry/internal/ratelog"
)

// failLogEvery is how often each Kind of failure may reach the log: the
// first of an interval is logged at once, the others counted into the next
// line's "suppressed" (internal/ratelog).
const failLogEvery = time.Second

// newFailLog returns the limiter of logFailure, one key per Kind.
func newFailLog() *ratelog.Limiter { return ratelog.New(int(kindCount), failLogEvery) }

// logFailure logs a failure that stream.fail answers, at most one line per
// Kind a second. What the operator must act on (the upstream's failures,
// ferry's own 5xx, a reset) is a warning; what a client did wrong (4xx) is
// information. Loop or worker: the line is written by the process's slog
// handler, and the limit keeps a storm of failures from blocking the loops
// on it (docs/operations.md, "Logs").
func (s *stream) logFailure(e *Error, k *kindInfo) {
	level := slog.LevelInfo
	if e.Source == Upstream || k.status == 0 || k.status >= 500 {
		level = slog.LevelWarn
	}
	log := s.srv.log
	if !log.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := s.srv.failLog.Allow(int(e.Kind))
	if !ok {
		return
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("kind", k.name), slog.String("source", e.Source.String()))
	if k.status != 0 {
		attrs = append(attrs, slog.Int("status", k.status))
	}
	if !s.onWorker && s.host != nil { // on a worker, s.host is the worker's: a loop event must not read it
		attrs = append(attrs, slog.String("upstream_host", s.host.String()))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("err", e.Err.Error()))
		if cause := errors.Unwrap(e.Err); cause != nil {
			attrs = append(attrs, slog.String("cause", cause.Error())) // a spill file's I/O error
		}
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", suppressed))
	}
	log.LogAttrs(context.Background(), level, "request failed", attrs...)
}
