//go:build linux

package spill

import (
	"os"
	"syscall"
)

// punchHole releases the disk space of [off, off+n) of f, keeping its size
// (fallocate(2) FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE). The range reads
// back as zeros; the queue never reads it again.
func punchHole(f *os.File, off, n int64) error {
	const keepSize, punchHole = 0x1, 0x2 // linux/falloc.h
	for {
		err := syscall.Fallocate(int(f.Fd()), keepSize|punchHole, off, n)
		if err != syscall.EINTR {
			return err
		}
	}
}
