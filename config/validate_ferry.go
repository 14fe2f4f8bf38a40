package config

import (
	"strconv"
)

// MaxEventLoops is the most event loops ferry runs: gnet runs at most
// 256 and would silently run 256 for more (docs/gnet.md), so the engine
// refuses more (eventloop.MaxLoops; internal/app tests they agree) and so
// does Validate.
const MaxEventLoops = 256

// ferry checks the ferry block, given with defaults applied.
func (v *validator) ferry(f Ferry) {
	const fp = "ferry"
	if v.nonNegative(int64(f.EventLoops), fp+".event_loops") && f.EventLoops > MaxEventLoops {
		v.p.add(fp+".event_loops", strconv.Itoa(f.EventLoops)+" is more than the "+strconv.Itoa(MaxEventLoops)+
			" event loops gnet can run")
	}
	v.nonNegative(int64(f.MaxConnections), fp+".max_connections")
	switch f.Scheduler.Policy {
	case PolicyInline, PolicyPool, PolicyAuto:
	default:
		v.p.add(fp+".scheduler.policy", "unknown policy "+strconv.Quote(string(f.Scheduler.Policy))+
			"; want inline, pool or auto")
	}
	v.nonNegative(int64(f.Scheduler.Workers), fp+".scheduler.workers")
	v.nonNegative(int64(f.Scheduler.Queue), fp+".scheduler.queue")
	h := f.HTTP1
	v.nonNegative(int64(h.MaxRequestLineBytes), fp+".http1.max_request_line_bytes")
	v.nonNegative(int64(h.MaxHeaderBytes), fp+".http1.max_header_bytes")
	v.nonNegative(int64(h.MaxHeaders), fp+".http1.max_headers")
	v.nonNegative(h.MaxRequestBodyBytes, fp+".http1.max_request_body_bytes")
	v.nonNegative(int64(h.MaxRequestsPerConnection), fp+".http1.max_requests_per_connection")
	v.nonNegative(int64(h.MaxPipelinedBytes), fp+".http1.max_pipelined_bytes")
	b := f.Buffers
	okHigh := v.nonNegative(int64(b.WriteHighWatermark), fp+".buffers.write_high_watermark")
	okLow := v.nonNegative(int64(b.WriteLowWatermark), fp+".buffers.write_low_watermark")
	if okHigh && okLow && b.WriteLowWatermark >= b.WriteHighWatermark {
		v.p.add(fp+".buffers.write_low_watermark", "must be below write_high_watermark ("+
			strconv.Itoa(b.WriteLowWatermark)+" >= "+strconv.Itoa(b.WriteHighWatermark)+")")
	}
	v.nonNegative(b.SpillMemoryBytes, fp+".buffers.spill_memory_bytes")
	v.nonNegative(b.SpillDiskBytes, fp+".buffers.spill_disk_bytes")
	if v.nonNegative(b.BacklogMemoryBytes, fp+".buffers.backlog_memory_bytes") && okHigh &&
		b.BacklogMemoryBytes < int64(b.WriteHighWatermark) {
		v.p.add(fp+".buffers.backlog_memory_bytes", "must be at least write_high_watermark ("+
			strconv.FormatInt(b.BacklogMemoryBytes, 10)+" < "+strconv.Itoa(b.WriteHighWatermark)+")")
	}
	switch f.Proxy.XFF {
	case XFFAppend, XFFOverwrite, XFFOff:
	default:
		v.p.add(fp+".proxy.xff", "unknown mode "+strconv.Quote(string(f.Proxy.XFF))+"; want append, overwrite or off")
	}
	switch f.Proxy.Path.EscapedSlashes {
	case "", "keep", "reject", "decode":
	default:
		v.p.add(fp+".proxy.path.escaped_slashes", "unknown action "+strconv.Quote(f.Proxy.Path.EscapedSlashes)+"; want keep, reject or decode")
	}
	if f.Proxy.Via != "" && !validToken(f.Proxy.Via) {
		v.p.add(fp+".proxy.via", "invalid pseudonym "+strconv.Quote(f.Proxy.Via)+": must be a token")
	}
}

// nonNegative reports a negative n at path; it returns whether n was fine.
func (v *validator) nonNegative(n int64, path string) bool {
	if n < 0 {
		v.p.add(path, "must not be negative, got "+strconv.FormatInt(n, 10))
		return false
	}
	return true
}
