//go:build !race

package spill

import (
	"strconv"
	"testing"
)

// pump writes size bytes and reads them back through Peek/Discard.
func pump(b *testing.B, q *Queue, msg []byte) {
	if _, err := q.Write(msg); err != nil {
		b.Fatal(err)
	}
	for left := len(msg); left > 0; {
		p, err := q.Peek(0)
		if err != nil {
			b.Fatal(err)
		}
		q.Discard(len(p))
		left -= len(p)
	}
}

func BenchmarkMemory(b *testing.B) {
	for _, size := range []int{512, 4 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			q := New(Options{})
			b.Cleanup(func() { _ = q.Close() }) // an unlinked file: nothing to report
			msg := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				pump(b, q, msg)
			}
		})
	}
}

// BenchmarkSpill keeps a 1 MiB backlog on file (64 KiB of memory) and moves
// size bytes through it per op: pwrite, pread, and a hole punch every 4 MiB.
func BenchmarkSpill(b *testing.B) {
	for _, size := range []int{4 << 10, 16 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			q := New(Options{MemLimit: 64 << 10, Dir: b.TempDir()})
			b.Cleanup(func() { _ = q.Close() }) // an unlinked file: nothing to report
			if _, err := q.Write(make([]byte, 1<<20)); err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := q.Write(msg); err != nil {
					b.Fatal(err)
				}
				for left := size; left > 0; {
					p, err := q.Peek(left)
					if err != nil {
						b.Fatal(err)
					}
					q.Discard(len(p))
					left -= len(p)
				}
			}
		})
	}
}

// BenchmarkSpillDrain spills size bytes past a 64 KiB memory and drains
// everything each op, so the file is truncated every time.
func BenchmarkSpillDrain(b *testing.B) {
	q := New(Options{MemLimit: 64 << 10, Dir: b.TempDir()})
	b.Cleanup(func() { _ = q.Close() }) // an unlinked file: nothing to report
	msg := make([]byte, 128<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		pump(b, q, msg)
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func TestSteadyStateAllocs(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		size int
	}{
		{name: "memory", opts: Options{}, size: 4 << 10},
		{name: "spill and drain", opts: Options{MemLimit: 16 << 10}, size: 64 << 10},
		{name: "file only", opts: Options{MemLimit: -1}, size: 20 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Dir = t.TempDir()
			q := New(tc.opts)
			t.Cleanup(func() { _ = q.Close() })
			msg := make([]byte, tc.size)
			round := func() {
				if _, err := q.Write(msg); err != nil {
					t.Fatal(err)
				}
				for q.Len() > 0 {
					p, err := q.Peek(0)
					if err != nil {
						t.Fatal(err)
					}
					q.Discard(len(p))
				}
			}
			round() // opens the file and sizes the chunk list
			if n := testing.AllocsPerRun(100, round); n != 0 {
				t.Fatalf("%v allocs per write+drain, want 0", n)
			}
		})
	}
}
