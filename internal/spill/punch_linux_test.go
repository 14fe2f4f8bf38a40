//go:build linux

package spill

import (
	"syscall"
	"testing"
)

func TestPunchBoundsDiskUse(t *testing.T) {
	const (
		total   = 48 << 20
		low     = 512 << 10 // the backlog never drains below this
		high    = 1 << 20
		maxDisk = high + punchStep + 2<<20 // plus file-system slack
	)
	q := New(Options{MemLimit: 64 << 10, Dir: t.TempDir()})
	t.Cleanup(func() { _ = q.Close() })
	pattern := func(off int64) byte { return byte(off % 251) }
	buf := make([]byte, 64<<10)
	var written, read int64
	for written < total {
		for q.Len() < high {
			for i := range buf {
				buf[i] = pattern(written + int64(i))
			}
			if _, err := q.Write(buf); err != nil {
				t.Fatal(err)
			}
			written += int64(len(buf))
		}
		for q.Len() > low {
			p, err := q.Peek(0)
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range p {
				if b != pattern(read+int64(i)) {
					t.Fatalf("byte %d = %d, want %d (a punched range was read?)", read+int64(i), b, pattern(read+int64(i)))
				}
			}
			q.Discard(len(p))
			read += int64(len(p))
		}
		if !q.CanPunch() {
			t.Skip("the temp dir's file system does not support FALLOC_FL_PUNCH_HOLE")
		}
		fi, err := q.File().Stat()
		if err != nil {
			t.Fatal(err)
		}
		if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used > maxDisk {
			t.Fatalf("after %d bytes the file uses %d bytes of disk for a %d byte backlog", written, used, q.Len())
		}
	}
	if q.File() == nil || !q.Spilled() {
		t.Fatal("the backlog drained: the test did not exercise punching")
	}
}
