package spill

import "os"

// File is the open temp file, or nil.
func (q *Queue) File() *os.File { return q.f }

// Held is the pooled chunk memory the queue holds (the scratch buffer
// aside).
func (q *Queue) Held() int { return len(q.chunks) * q.chunkSize }

// ChunkSize is the effective chunk size.
func (q *Queue) ChunkSize() int { return q.chunkSize }

// HoldsNothing reports whether the queue holds no buffer and no file.
func (q *Queue) HoldsNothing() bool {
	return q.chunks == nil && q.scratch == nil && q.f == nil
}

// CanPunch reports whether hole punching still works for this queue.
func (q *Queue) CanPunch() bool { return !q.noPunch }
