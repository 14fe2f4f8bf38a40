package spill

import (
	"errors"
	"math/bits"

	"github.com/bytedance/gopkg/lang/mcache"

	"github.com/ferry-proxy/ferry/internal/backlog"
)

// Defaults for zero Options fields. A queue's memory part holds one chunk
// by default: about nginx's client_body_buffer_size, so that a slow
// reader's backlog costs tens of KiB before it goes to the file.
const (
	DefaultMemLimit  = 16 << 10
	DefaultChunkSize = 16 << 10
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("spill: queue closed")

// ErrDiskBudget is returned by Write when the bytes it would put in the
// temp file do not fit in Options.DiskBudget: the temp files of every
// queue sharing it hold as much as they may.
var ErrDiskBudget = errors.New("spill: the temp files' budget is used up")

// Options configures a Queue.
type Options struct {
	// MemLimit is the most bytes kept in memory before spilling. Zero
	// means DefaultMemLimit (16 KiB); a negative value keeps nothing in
	// memory (every byte goes to the file). The pooled memory held is at
	// most MemLimit rounded up to a whole number of chunks.
	MemLimit int
	// Dir is where the temp file is created. Empty means os.TempDir().
	Dir string
	// ChunkSize is the size of the pooled memory chunks and of the buffer
	// file reads go through. Zero means DefaultChunkSize (16 KiB); other
	// values are rounded up to a power of two (mcache size classes).
	ChunkSize int
	// OnFile, when set, is called with true right after the queue opened
	// its temp file and with false right after it closed it, so the caller
	// can count descriptors. It runs on the queue's goroutine.
	OnFile func(opened bool)
	// Budget, when set, is the process-wide budget the queue takes each
	// memory chunk from before allocating it and gives it back to when it
	// frees it. A write that finds the budget used up goes to the file,
	// as if the queue's own memory were full.
	Budget *backlog.Budget
	// DiskBudget, when set, is the process-wide budget of bytes queued in
	// temp files: a write takes what it puts in the file from it first,
	// and fails with ErrDiskBudget, writing nothing to the file, when that
	// does not fit; the bytes come back as they are read or dropped. gnet
	// cannot pause reading (docs/gnet.md), so without it a backlog that
	// never drains (a tunnel whose client stops reading while its
	// upstream sends) would grow its file until the disk is full.
	DiskBudget *backlog.Budget
}

// Queue is a FIFO of bytes: memory first, then an unlinked temp file. The
// zero value is not usable; call New.
type Queue struct {
	memLimit  int // bytes
	chunkSize int // power of two
	maxChunks int
	dir       string
	onFile    func(opened bool)
	budget    *backlog.Budget
	disk      *backlog.Budget
	closed    bool

	// Memory part: chunks are full-capacity mcache slices, oldest first.
	// Bytes run from chunks[0][r] to chunks[len-1][w].
	chunks [][]byte
	r, w   int
	mem    int // bytes queued in memory

	fileState
}

// New returns an empty Queue. It allocates no buffer and opens no file until
// they are needed. Any goroutine.
func New(opts Options) *Queue {
	q := &Queue{
		memLimit:  opts.MemLimit,
		chunkSize: opts.ChunkSize,
		dir:       opts.Dir,
		onFile:    opts.OnFile,
		budget:    opts.Budget,
		disk:      opts.DiskBudget,
	}
	switch {
	case q.memLimit == 0:
		q.memLimit = DefaultMemLimit
	case q.memLimit < 0:
		q.memLimit = 0
	}
	if q.chunkSize <= 0 {
		q.chunkSize = DefaultChunkSize
	}
	q.chunkSize = 1 << bits.Len(uint(q.chunkSize-1))
	q.maxChunks = (q.memLimit + q.chunkSize - 1) / q.chunkSize
	return q
}

// Len is the number of bytes queued, in memory and on file. Loop only.
func (q *Queue) Len() int64 { return int64(q.mem) + q.fw - q.fr }

// InMemory is the number of queued bytes held in memory; it never exceeds
// MemLimit. Loop only.
func (q *Queue) InMemory() int { return q.mem }

// Spilled reports whether the file holds queued bytes; while it does, every
// Write goes to the file. Loop only.
func (q *Queue) Spilled() bool { return q.fw > q.fr }

// Write appends a copy of p: to memory while the queue is not spilled and
// memory has room, the rest to the file. It returns len(p) and nil, or the
// bytes queued and the error that stopped it (creating or writing the file);
// the bytes counted are queued, the rest are not. After Close it returns
// ErrClosed. Loop only.
func (q *Queue) Write(p []byte) (int, error) {
	if q.closed {
		return 0, ErrClosed
	}
	n := 0
	if !q.Spilled() {
		n = q.writeMem(p)
	}
	if n == len(p) {
		return n, nil
	}
	m, err := q.writeFile(p[n:])
	return n + m, err
}

// writeMem copies as much of p as memory takes and returns how much.
func (q *Queue) writeMem(p []byte) int {
	n := 0
	for room := q.memLimit - q.mem; n < len(p) && room > 0; {
		if len(q.chunks) == 0 || q.w == q.chunkSize {
			if len(q.chunks) == q.maxChunks || !q.budget.Take(int64(q.chunkSize)) {
				break
			}
			q.chunks = append(q.chunks, mcache.Malloc(q.chunkSize))
			q.w = 0
		}
		tail := q.chunks[len(q.chunks)-1]
		k := copy(tail[q.w:min(q.chunkSize, q.w+room)], p[n:])
		q.w += k
		q.mem += k
		n += k
		room -= k
	}
	return n
}

// Peek returns the next queued bytes, at most limit of them (limit <= 0
// means no limit), without consuming them. The slice is contiguous: it ends at a
// chunk boundary, at the end of memory or after one scratch buffer of file
// data, so it may be shorter than Len. From memory it aliases a chunk; from
// the file it is read into a pooled scratch buffer. Either way it is valid
// only until the next call on q, and its capacity equals its length. An
// empty queue returns nil, nil; a failed file read returns the error. Loop
// only.
func (q *Queue) Peek(limit int) ([]byte, error) {
	if q.mem > 0 {
		end := q.chunkSize
		if len(q.chunks) == 1 {
			end = q.w
		}
		return clip(q.chunks[0][q.r:end], limit), nil
	}
	if q.Spilled() {
		b, err := q.peekFile()
		return clip(b, limit), err
	}
	return nil, nil
}

// clip cuts b to at most limit bytes (limit > 0) and caps it at its length.
func clip(b []byte, limit int) []byte {
	if limit > 0 && len(b) > limit {
		b = b[:limit]
	}
	return b[:len(b):len(b)]
}

// Discard consumes the next n bytes. Memory chunks go back to the pool as
// they empty; when the file empties it is truncated for reuse. n must be in
// 0..Len(); a larger n is a caller bug and panics. Loop only.
func (q *Queue) Discard(n int) {
	if n < 0 || int64(n) > q.Len() {
		panic("spill: Discard out of range")
	}
	for n > 0 && q.mem > 0 {
		end := q.chunkSize
		if len(q.chunks) == 1 {
			end = q.w
		}
		k := min(n, end-q.r)
		q.r += k
		q.mem -= k
		n -= k
		switch {
		case q.mem == 0:
			q.freeChunks()
		case q.r == q.chunkSize:
			mcache.Free(q.chunks[0])
			q.budget.Give(int64(q.chunkSize))
			last := copy(q.chunks, q.chunks[1:])
			q.chunks[last] = nil
			q.chunks = q.chunks[:last]
			q.r = 0
		}
	}
	if n > 0 {
		q.discardFile(int64(n))
	}
}

// freeChunks returns every chunk to the pool, once each, keeping the
// (small) slice of chunk headers for reuse.
func (q *Queue) freeChunks() {
	for i, c := range q.chunks {
		mcache.Free(c)
		q.chunks[i] = nil
	}
	q.budget.Give(int64(len(q.chunks) * q.chunkSize))
	q.chunks = q.chunks[:0]
	q.r, q.w, q.mem = 0, 0, 0
}

// Reset drops every queued byte, returns all memory to the pool and closes
// (and so deletes) the temp file. The queue stays usable. Loop only.
func (q *Queue) Reset() {
	_ = q.reset() // Reset has no caller to report a close error to
}

func (q *Queue) reset() error {
	q.freeChunks()
	q.chunks = nil
	return q.closeFile()
}

// Close is Reset, after which Write fails with ErrClosed. It returns the
// error of closing the temp file, if one was open. Calling it again does
// nothing. Loop only.
func (q *Queue) Close() error {
	if q.closed {
		return nil
	}
	q.closed = true
	return q.reset()
}
