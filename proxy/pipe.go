package proxy

import (
	"github.com/ferry-proxy/ferry/internal/codec/http1"
	"github.com/ferry-proxy/ferry/internal/spill"
)

// encoding is how a pipe frames body bytes for its destination.
type encoding uint8

const (
	encRaw     encoding = iota // bytes as they are (Content-Length, close-delimited)
	encChunked                 // re-encoded as chunks (a chunked source, or close-delimited to HTTP/1.1)
)

// sink is where a pipe writes: a connection (*conn.Conn), or one HTTP/2
// stream of a client connection (h2sink), which frames the bytes itself.
type sink interface {
	Write(b []byte) error
	Writev(bs [][]byte) error
	// Closed reports that nothing written would arrive.
	Closed() bool
	// Stalled reports that the sink is above its high watermark (or out
	// of flow-control window): new bytes go to the spill queue.
	Stalled() bool
}

// pipe carries one direction of a stream's bytes to a connection.
//
// Within one callback, pieces are gathered in batch (slices of gnet's read
// buffer, valid only until the callback returns) and written with one
// Writev at flush. When the destination is not ready (no connection yet,
// head not written, phases running on a worker) or is above its high
// watermark, pieces are copied into a spill queue instead: memory first,
// then a temp file, so that no byte is lost and memory stays bounded while
// gnet keeps reading (it cannot pause: docs/gnet.md, "No read pause"). When the destination drains,
// the queue is written out before anything new.
//
// Loop only.
type pipe struct {
	dst  sink
	open bool // dst set and ready for body bytes
	enc  encoding

	batch   [][]byte
	pending int // bytes in batch
	// total counts the bytes handed to the pipe for dst since reset,
	// framing and head included (the access log's bytes_sent).
	total   int64
	scratch []byte
	q       *spill.Queue
	qopts   *spill.Options
}

// scratchCap bounds the chunk-size lines one batch references; the scratch
// slice must never grow while batch points into it.
const scratchCap = 1024

// reset empties the pipe and detaches it from its destination; the
// encoding stays (a retry re-sends with the same framing).
func (p *pipe) reset() {
	if p.q != nil {
		p.q.Reset()
	}
	for i := range p.batch {
		p.batch[i] = nil
	}
	p.batch = p.batch[:0]
	p.pending = 0
	p.total = 0
	p.scratch = p.scratch[:0]
	p.dst, p.open = nil, false
}

// release frees the queue's file and memory; the pipe stays usable.
func (p *pipe) release() {
	p.reset()
	if p.q != nil {
		_ = p.q.Close() // best effort: removes an unlinked temp file's fd
		p.q = nil
	}
}

// direct reports whether new bytes may be written straight to dst.
func (p *pipe) direct() bool {
	return p.open && !p.dst.Closed() && !p.dst.Stalled() && (p.q == nil || p.q.Len() == 0)
}

// add hands body bytes to the pipe, framed per its encoding. b must stay
// valid until flush (a slice of the current read buffer).
func (p *pipe) add(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if p.enc == encChunked {
		if len(p.scratch)+20 > scratchCap {
			if err := p.flush(); err != nil {
				return err
			}
		}
		start := len(p.scratch)
		p.scratch = http1.AppendChunkHeader(p.scratch, len(b))
		if err := p.put(p.scratch[start:len(p.scratch):len(p.scratch)]); err != nil {
			return err
		}
		if err := p.put(b); err != nil {
			return err
		}
		return p.put(crlf)
	}
	return p.put(b)
}

// finish ends a chunked body with the last chunk and trailers (raw field
// lines, possibly empty).
func (p *pipe) finish(trailers []byte) error {
	if p.enc != encChunked {
		return nil
	}
	if err := p.put(lastChunk); err != nil {
		return err
	}
	if len(trailers) > 0 {
		if err := p.put(trailers); err != nil {
			return err
		}
	}
	return p.put(crlf)
}

// put gathers one piece for dst, or queues a copy of it. Bytes for a
// destination that is gone are dropped: nothing would ever read them.
func (p *pipe) put(b []byte) error {
	if p.open && p.dst.Closed() {
		return nil
	}
	p.total += int64(len(b))
	if !p.direct() {
		return p.enqueue(b)
	}
	p.batch = append(p.batch, b)
	p.pending += len(b)
	if len(p.batch) >= 64 {
		return p.flush()
	}
	return nil
}

func (p *pipe) enqueue(b []byte) error {
	if p.q == nil {
		p.q = spill.New(*p.qopts)
	}
	_, err := p.q.Write(b)
	return err
}

// flush writes the gathered pieces in one system call. Call it before the
// callback that gathered them returns.
func (p *pipe) flush() error {
	if len(p.batch) == 0 {
		p.scratch = p.scratch[:0]
		return nil
	}
	var err error
	switch {
	case !p.open || p.dst.Closed():
		// Nowhere to go: the destination went away during this event.
	case len(p.batch) == 1:
		err = p.dst.Write(p.batch[0])
	default:
		err = p.dst.Writev(p.batch)
	}
	for i := range p.batch {
		p.batch[i] = nil
	}
	p.batch = p.batch[:0]
	p.pending = 0
	p.scratch = p.scratch[:0]
	return err
}

// start opens the pipe to dst with head in front of every body byte.
// When nothing is queued, head joins this callback's batch, so a head and
// the body that came with it leave in one writev; otherwise it is written
// at once, ahead of the queue. head must stay unchanged until flush.
func (p *pipe) start(dst sink, head []byte) error {
	p.dst, p.open = dst, true
	p.total += int64(len(head))
	if p.q != nil && p.q.Len() > 0 {
		if len(head) > 0 {
			if err := dst.Write(head); err != nil {
				return err
			}
		}
		return p.drain()
	}
	if len(head) > 0 {
		p.batch = append(p.batch, head)
		p.pending += len(head)
	}
	return nil
}

// drain writes queued bytes until the queue is empty or dst is full.
func (p *pipe) drain() error {
	if !p.open || p.q == nil {
		return nil
	}
	for p.q.Len() > 0 && !p.dst.Closed() && !p.dst.Stalled() {
		b, err := p.q.Peek(256 << 10)
		if err != nil {
			return err
		}
		if err := p.dst.Write(b); err != nil {
			return err
		}
		p.q.Discard(len(b))
	}
	return nil
}

// queued is the number of bytes waiting in the spill queue.
func (p *pipe) queued() int64 {
	if p.q == nil {
		return 0
	}
	return p.q.Len()
}

//nolint:gochecknoglobals // read-only framing constants
var (
	crlf      = []byte("\r\n")
	lastChunk = []byte("0\r\n")
)
