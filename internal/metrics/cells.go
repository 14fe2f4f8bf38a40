package metrics

import "time"

// Counter is one shard's part of a monotonically increasing count. The
// zero value is ready. Only the shard's loop may change it (a second
// writer would lose counts, see word.go); a scrape reads it from any
// goroutine.
type Counter struct{ w word }

// Inc adds one. The shard's loop.
func (c *Counter) Inc() { c.w.add(1) }

// Add adds n. The shard's loop.
func (c *Counter) Add(n uint64) { c.w.add(n) }

// Load returns this shard's count. Any goroutine.
func (c *Counter) Load() uint64 { return c.w.load() }

// Gauge is one shard's part of a value that goes up and down, kept as
// two's complement. A shard's part may be negative (raised on one loop
// and lowered on another would be, were that allowed); the sum over the
// shards is the value.
type Gauge struct{ w word }

// Inc adds one. The shard's loop.
func (g *Gauge) Inc() { g.w.add(1) }

// Dec subtracts one. The shard's loop.
func (g *Gauge) Dec() { g.w.add(^uint64(0)) }

// Add adds d, which may be negative. The shard's loop.
func (g *Gauge) Add(d int64) { g.w.add(uint64(d)) } // two's complement

// Load returns this shard's part. Any goroutine.
func (g *Gauge) Load() int64 { return int64(g.w.load()) } // two's complement

// bucketBounds are the upper bounds of the duration histograms, in
// nanoseconds: 0.5 ms to 10 s, the spread of a proxied request from a
// cached local answer to a slow upstream. The scrape adds +Inf.
var bucketBounds = [...]int64{ //nolint:gochecknoglobals // read-only table
	500e3, 1e6, 2.5e6, 5e6, 10e6, 25e6, 50e6, 100e6, 250e6, 500e6, 1e9, 2.5e9, 5e9, 10e9,
}

// NumBuckets is the number of finite histogram buckets.
const NumBuckets = len(bucketBounds)

// BucketBounds returns the finite upper bounds of the duration histograms,
// in seconds, as a new slice. Any goroutine.
func BucketBounds() []float64 {
	out := make([]float64, NumBuckets)
	for i, b := range bucketBounds {
		out[i] = float64(b) / 1e9
	}
	return out
}

// Histogram is one shard's part of a fixed-bucket duration histogram.
// counts[i] holds the observations in bucket i alone (not cumulative;
// the scrape accumulates), counts[NumBuckets] those above the last bound.
type Histogram struct {
	counts [NumBuckets + 1]word
	// sum is the total of the observations in nanoseconds (2^64 ns is
	// 584 years of summed latency).
	sum word
}

// Observe records one duration; a negative one counts as zero. The
// shard's loop.
func (h *Histogram) Observe(d time.Duration) {
	ns := max(int64(d), 0)
	i := 0
	for i < NumBuckets && ns > bucketBounds[i] {
		i++
	}
	h.counts[i].add(1)
	h.sum.add(uint64(ns)) // ns >= 0
}

// snapshot adds this shard's buckets into counts and its sum into sum.
func (h *Histogram) snapshot(counts *[NumBuckets + 1]uint64, sum *uint64) {
	for i := range h.counts {
		counts[i] += h.counts[i].load()
	}
	*sum += h.sum.load()
}

// NumClasses is the number of response classes counted: 1xx to 5xx.
const NumClasses = 5

// MinCode and MaxCode bound the status codes counted one by one; a code
// outside them counts in its class only (see Class).
const (
	MinCode = 100
	MaxCode = 599
)

// Class is the index of a status code's class (1xx is 0), or -1 for a
// code outside 100-599. Any goroutine.
func Class(code int) int {
	if code < MinCode || code > MaxCode {
		return -1
	}
	return code/100 - 1
}

// MaxCauses bounds the local-reply causes a Registry counts.
const MaxCauses = 32

// Responses counts responses by class.
type Responses struct {
	classes [NumClasses]Counter
}

// Count records one response with this status code; one outside 100-599
// is not counted. The shard's loop.
func (r *Responses) Count(code int) {
	if c := Class(code); c >= 0 {
		r.classes[c].Inc()
	}
}

// Listener holds one listener's counters on one shard.
type Listener struct {
	// Connections counts downstream connections accepted.
	Connections Counter
	// ActiveConnections counts open downstream connections.
	ActiveConnections Gauge
	// Requests counts requests begun; ActiveRequests those in flight.
	Requests       Counter
	ActiveRequests Gauge
	// BytesReceived and BytesSent count request and response bytes on
	// the downstream side.
	BytesReceived, BytesSent Counter
	// TCPConnectFailures counts a tcp_proxy's failed upstream connection
	// attempts; TCPNoUpstream the connections it closed because no route
	// matched or every attempt failed.
	TCPConnectFailures, TCPNoUpstream Counter
	// codes counts responses by code, MinCode to MaxCode (the class is
	// the code's first digit: PromQL sums by it).
	codes [MaxCode - MinCode + 1]Counter
	// local counts local replies by cause (the Registry's Causes).
	local [MaxCauses]Counter
	// Duration is the downstream request duration, first byte of the
	// request to the last byte of the response handed to the socket.
	Duration Histogram
}

// Respond counts one response with this status code; one outside
// MinCode-MaxCode is not counted. The shard's loop.
func (l *Listener) Respond(code int) {
	if code >= MinCode && code <= MaxCode {
		l.codes[code-MinCode].Inc()
	}
}

// LocalReply counts one local reply of this cause (an index into the
// Registry's Causes; one out of range is not counted). The shard's loop.
func (l *Listener) LocalReply(cause int) {
	if uint(cause) < MaxCauses {
		l.local[cause].Inc()
	}
}

// Route holds one virtual host's counters on one shard. The proxy counts
// a request on its virtual host when it ends (the route may be chosen on
// a worker, and chosen again on a reroute), so there is no gauge of those
// in flight: the listener's is that.
type Route struct {
	// Requests counts requests that matched the virtual host.
	Requests Counter
	// Responses counts responses by class.
	Responses Responses
}

// Cluster holds one cluster's counters on one shard.
type Cluster struct {
	// Requests counts requests sent upstream (a retry is a second one);
	// ActiveRequests those in flight; Pending those waiting for a
	// connection.
	Requests       Counter
	ActiveRequests Gauge
	Pending        Gauge
	// Responses counts upstream responses by class.
	Responses Responses
	// Retries, Timeouts and ConnectFailures count retried requests,
	// requests that timed out upstream and failed connection attempts.
	Retries, Timeouts, ConnectFailures Counter
	// BytesSent and BytesReceived count bytes to and from the hosts.
	BytesSent, BytesReceived Counter
	// ResponseTime is the upstream response time, request sent to the
	// last byte of the response read.
	ResponseTime Histogram
}

// Host holds one upstream host's counters on one shard.
type Host struct {
	// Requests counts requests sent to the host; ActiveRequests those in
	// flight.
	Requests       Counter
	ActiveRequests Gauge
	// Responses counts its responses by class.
	Responses Responses
	// ConnectFailures counts failed connection attempts.
	ConnectFailures Counter
	// ActiveConnections counts open connections to the host.
	ActiveConnections Gauge
}

// Loop holds one event loop's own counters: every connection and byte on
// the loop, downstream and upstream.
type Loop struct {
	// Connections counts connections opened on the loop; Active those
	// open.
	Connections Counter
	Active      Gauge
	// BytesRead and BytesWritten count socket bytes.
	BytesRead, BytesWritten Counter
}
