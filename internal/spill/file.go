package spill

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bytedance/gopkg/lang/mcache"
)

const (
	// punchStep is how much consumed file space accumulates before it is
	// released with punchHole while the file never fully drains.
	punchStep = 4 << 20
	// punchAlign keeps punched ranges to whole file-system blocks.
	punchAlign = 4 << 10
)

// fileState is the file part of a Queue. Queued file bytes are [fr, fw).
type fileState struct {
	f       *os.File
	fr, fw  int64
	punched int64 // bytes below this offset have been released
	noPunch bool  // punchHole failed once: the file system cannot

	// scratch caches file bytes [sOff, sOff+sLen) for Peek. Writes only
	// append past fw, so a cached range stays valid until the file is
	// truncated.
	scratch []byte
	sOff    int64
	sLen    int
}

// openFile creates the temp file and unlinks it at once.
func (q *Queue) openFile() error {
	dir := q.dir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "ferry-spill-*")
	if err != nil {
		return fmt.Errorf("spill: create temp file in %q: %w", dir, err)
	}
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close() // the remove error is the one to report
		return fmt.Errorf("spill: unlink temp file: %w", err)
	}
	q.f = f
	if q.onFile != nil {
		q.onFile(true)
	}
	return nil
}

// writeFile appends p to the file, creating it if needed.
func (q *Queue) writeFile(p []byte) (int, error) {
	if !q.disk.Take(int64(len(p))) {
		return 0, ErrDiskBudget
	}
	if q.f == nil {
		if err := q.openFile(); err != nil {
			q.disk.Give(int64(len(p)))
			return 0, err
		}
	}
	n, err := q.f.WriteAt(p, q.fw)
	q.fw += int64(n)
	if err != nil {
		q.disk.Give(int64(len(p) - n))
		return n, fmt.Errorf("spill: %w", err)
	}
	return n, nil
}

// peekFile returns file bytes from fr on, up to the end of the scratch
// buffer, reading them in when fr is not cached.
func (q *Queue) peekFile() ([]byte, error) {
	if q.fr < q.sOff || q.fr >= q.sOff+int64(q.sLen) {
		if q.scratch == nil {
			q.scratch = mcache.Malloc(q.chunkSize)
			q.budget.Charge(int64(q.chunkSize)) // needed to read the file: not refused
		}
		want := int(min(int64(len(q.scratch)), q.fw-q.fr))
		n, err := q.f.ReadAt(q.scratch[:want], q.fr)
		if n < want {
			q.sLen = 0
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("spill: read temp file at %d: %w", q.fr, err)
		}
		q.sOff, q.sLen = q.fr, want
	}
	return q.scratch[q.fr-q.sOff : q.sLen], nil
}

// discardFile consumes n queued file bytes (n <= fw-fr).
func (q *Queue) discardFile(n int64) {
	q.disk.Give(n)
	q.fr += n
	if q.fr == q.fw {
		q.rewind()
		return
	}
	if !q.noPunch && q.fr-q.punched >= punchStep {
		end := q.fr &^ (punchAlign - 1)
		if err := punchHole(q.f, q.punched, end-q.punched); err != nil {
			q.noPunch = true
			return
		}
		q.punched = end
	}
}

// rewind truncates the drained file for reuse; if that fails the file is
// dropped and the next spill opens a new one.
func (q *Queue) rewind() {
	q.fr, q.fw, q.punched, q.sOff, q.sLen = 0, 0, 0, 0, 0
	q.freeScratch()
	if err := q.f.Truncate(0); err != nil {
		_ = q.closeFile() // the file is unusable either way; nothing was lost
	}
}

func (q *Queue) freeScratch() {
	if q.scratch != nil {
		mcache.Free(q.scratch)
		q.scratch = nil
		q.budget.Charge(-int64(q.chunkSize))
	}
}

// closeFile drops the file part and closes the file, which deletes it.
func (q *Queue) closeFile() error {
	q.disk.Give(q.fw - q.fr)
	q.fr, q.fw, q.punched, q.sOff, q.sLen = 0, 0, 0, 0, 0
	q.noPunch = false
	q.freeScratch()
	if q.f == nil {
		return nil
	}
	err := q.f.Close()
	q.f = nil
	if q.onFile != nil {
		q.onFile(false)
	}
	if err != nil {
		return fmt.Errorf("spill: close temp file: %w", err)
	}
	return nil
}
