package conn

import "github.com/ferry-proxy/ferry/internal/metrics"

// The loop's counters (Options.LoopMetrics): connections opened and open,
// and the bytes the connections' filters consumed and wrote (plain text
// on a TLS connection, whose Conn sees decrypted input and encrypts its
// writes). Each is a plain add on the loop's own metrics shard
// (internal/metrics), or nothing when no counters were given. Loop only.

// loopMetrics returns loop index's counters from o, or nil.
func (o *Options) loopMetrics(index int) *metrics.Loop {
	if o == nil || o.LoopMetrics == nil {
		return nil
	}
	return o.LoopMetrics(index)
}

func (c *Conn) countOpen() {
	if m := c.loop.metrics; m != nil {
		m.Connections.Inc()
		m.Active.Inc()
	}
}

func (c *Conn) countClose() {
	if m := c.loop.metrics; m != nil {
		m.Active.Dec()
	}
}

func (c *Conn) countRead(n int) {
	if m := c.loop.metrics; m != nil && n > 0 {
		m.BytesRead.Add(uint64(n))
	}
}

func (c *Conn) countWritten(n int) {
	if m := c.loop.metrics; m != nil && n > 0 {
		m.BytesWritten.Add(uint64(n))
	}
}
