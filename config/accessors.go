package config

import "time"

// Protocols returns the protocols the proxy actually speaks: downstream
// "Http1", "Http2" or "Auto" (empty means "Auto": either, told apart by
// the HTTP/2 connection preface), and upstream "Http2" (h2c) or "Http1"
// ("Auto" and empty included: MOSN would follow the downstream protocol,
// but ferry speaks HTTP/1.1 to upstream hosts unless told Http2). Call it
// on a validated config. Any goroutine.
func (p *ProxyConfig) Protocols() (downstream, upstream string) {
	downstream = p.DownstreamProtocol
	if downstream == "" {
		downstream = protocolAuto
	}
	if p.UpstreamProtocol == protocolHTTP2 {
		return downstream, protocolHTTP2
	}
	return downstream, protocolHTTP1
}

// IdleTimeout returns the listener's downstream idle timeout: its
// connection_idle_timeout when positive, else ferry.timeouts.idle from f
// (with defaults applied). Any goroutine.
func (l *Listener) IdleTimeout(f *Ferry) time.Duration {
	if l.ConnectionIdleTimeout != nil && *l.ConnectionIdleTimeout > 0 {
		return l.ConnectionIdleTimeout.Std()
	}
	return f.WithDefaults().Timeouts.Idle.Std()
}

// DrainTimeout returns how long a graceful stop waits: the first server's
// graceful_timeout when positive, else ferry.timeouts.drain (with defaults
// applied). Any goroutine.
func (c *Config) DrainTimeout() time.Duration {
	if len(c.Servers) > 0 && c.Servers[0].GracefulTimeout > 0 {
		return c.Servers[0].GracefulTimeout.Std()
	}
	return c.Ferry.WithDefaults().Timeouts.Drain.Std()
}
