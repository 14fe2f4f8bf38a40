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
	if n <= 0 {
		return
	}
	if m := c.loop.metrics; m != nil {
		m.BytesRead.Add(uint64(n))
	}
	if b := c.bytesIn; b != nil {
		b.Add(uint64(n))
	}
}

func (c *Conn) countWritten(n int) {
	if n <= 0 {
		return
	}
	if m := c.loop.metrics; m != nil {
		m.BytesWritten.Add(uint64(n))
	}
	if b := c.bytesOut; b != nil {
		b.Add(uint64(n))
	}
}

// SetByteCounters makes the connection also count the bytes its filters
// consume into read and the bytes it writes into written (a listener's or
// a cluster's cells, say); nil counts nothing. Both are cells of this
// connection's loop's shard. Loop only.
func (c *Conn) SetByteCounters(read, written *metrics.Counter) { c.bytesIn, c.bytesOut = read, written }

// Now is the clock of the loop's callback in progress, in nanoseconds
// (read once per callback, see Refresh): what a request's durations are
// measured with. Loop only.
func (l *Loop) Now() int64 { return l.now }
