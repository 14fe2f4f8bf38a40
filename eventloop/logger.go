package eventloop

import (
	"fmt"
	"log/slog"
	"sync"
)

// gnetLogger adapts gnet's logging.Logger to slog and remembers the last
// error, which is usually why an engine stopped (gnet's Rotate returns nil
// even when accept failed with EMFILE: docs/gnet.md, "EMFILE kills the
// engine").
type gnetLogger struct {
	log  *slog.Logger
	mu   sync.Mutex
	last string
}

func (g *gnetLogger) Debugf(format string, args ...any) {
	g.log.Debug(fmt.Sprintf(format, args...), "src", "gnet")
}

func (g *gnetLogger) Infof(format string, args ...any) {
	g.log.Debug(fmt.Sprintf(format, args...), "src", "gnet")
}

func (g *gnetLogger) Warnf(format string, args ...any) {
	g.log.Warn(fmt.Sprintf(format, args...), "src", "gnet")
}

func (g *gnetLogger) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	g.mu.Lock()
	g.last = msg
	g.mu.Unlock()
	g.log.Error(msg, "src", "gnet")
}

func (g *gnetLogger) Fatalf(format string, args ...any) {
	g.Errorf(format, args...)
}

func (g *gnetLogger) lastError() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}
