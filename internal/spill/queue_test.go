package spill

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// fdCounter counts OnFile calls.
type fdCounter struct{ opened, closed int }

func (c *fdCounter) hook(opened bool) {
	if opened {
		c.opened++
	} else {
		c.closed++
	}
}

// streamStats describes one run of runStream.
type streamStats struct {
	spills, drains int // transitions memory→file and file→memory
}

// runStream pushes total pseudo-random bytes through q with random write,
// peek and discard sizes, alternating fill and drain phases, and checks the
// order (sha256) and the memory bounds after every operation.
func runStream(t *testing.T, q *Queue, memLimit int, total int64, seed uint64) streamStats {
	t.Helper()
	src := rand.NewChaCha8([32]byte{byte(seed)})
	rng := rand.New(rand.NewPCG(seed, seed+1))
	wsum, rsum := sha256.New(), sha256.New()
	buf := make([]byte, 256<<10)
	var written, read int64
	var st streamStats
	filling, target := true, int64(rng.IntN(4*max(memLimit, 1<<16)))
	spilled := false
	for read < total {
		if filling && written < total {
			n := int(min(randSize(rng), total-written))
			_, _ = src.Read(buf[:n]) // ChaCha8.Read never fails
			wsum.Write(buf[:n])
			if m, err := q.Write(buf[:n]); m != n || err != nil {
				t.Fatalf("Write(%d) = %d, %v", n, m, err)
			}
			written += int64(n)
		} else {
			limit := 0
			if rng.IntN(2) == 0 {
				limit = rng.IntN(64<<10) + 1
			}
			p, err := q.Peek(limit)
			if err != nil || len(p) == 0 || (limit > 0 && len(p) > limit) {
				t.Fatalf("Peek(%d) = %d bytes, %v with Len %d", limit, len(p), err, q.Len())
			}
			k := len(p)
			if rng.IntN(3) == 0 {
				k = rng.IntN(len(p)) + 1
			}
			rsum.Write(p[:k])
			q.Discard(k)
			read += int64(k)
		}
		checkBounds(t, q, memLimit, written-read)
		if q.Spilled() != spilled {
			spilled = q.Spilled()
			if spilled {
				st.spills++
			} else {
				st.drains++
			}
		}
		switch {
		case filling && (q.Len() >= target || written == total):
			filling = false
			target = 0
			if rng.IntN(2) == 0 {
				target = int64(rng.IntN(2 * max(memLimit, 1<<16)))
			}
		case !filling && q.Len() <= target:
			filling = true
			target = int64(rng.IntN(4 * max(memLimit, 1<<16)))
		}
	}
	if !bytes.Equal(wsum.Sum(nil), rsum.Sum(nil)) {
		t.Fatalf("stream of %d bytes came out different", total)
	}
	return st
}

// randSize mixes tiny, medium and large writes.
func randSize(rng *rand.Rand) int64 {
	switch rng.IntN(3) {
	case 0:
		return int64(rng.IntN(64) + 1)
	case 1:
		return int64(rng.IntN(8<<10) + 1)
	default:
		return int64(rng.IntN(256<<10) + 1)
	}
}

func checkBounds(t *testing.T, q *Queue, memLimit int, want int64) {
	t.Helper()
	if q.Len() != want {
		t.Fatalf("Len = %d, want %d", q.Len(), want)
	}
	limit := max(memLimit, 0)
	if q.InMemory() > limit || q.Held() > limit+q.ChunkSize() {
		t.Fatalf("InMemory %d, held %d: above MemLimit %d (+ chunk %d)",
			q.InMemory(), q.Held(), limit, q.ChunkSize())
	}
}

func TestStreamOrderAndBounds(t *testing.T) {
	big := int64(64 << 20)
	if testing.Short() {
		big = 8 << 20
	}
	tests := []struct {
		name  string
		opts  Options
		total int64
	}{
		{name: "64KiB memory, 64MiB stream", opts: Options{MemLimit: 64 << 10}, total: big},
		{name: "small chunks", opts: Options{MemLimit: 64 << 10, ChunkSize: 4 << 10}, total: 8 << 20},
		{name: "limit not a chunk multiple", opts: Options{MemLimit: 50_000, ChunkSize: 3000}, total: 8 << 20},
		{name: "limit below one chunk", opts: Options{MemLimit: 1000}, total: 4 << 20},
		{name: "file only", opts: Options{MemLimit: -1}, total: 8 << 20},
		{name: "default 1MiB memory", opts: Options{}, total: 16 << 20},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fds fdCounter
			tc.opts.Dir = t.TempDir()
			tc.opts.OnFile = fds.hook
			q := New(tc.opts)
			memLimit := tc.opts.MemLimit
			if memLimit == 0 {
				memLimit = DefaultMemLimit
			}
			st := runStream(t, q, memLimit, tc.total, uint64(i+1))
			t.Logf("%d bytes: %d spills, %d drains", tc.total, st.spills, st.drains)
			if st.spills < 2 || st.drains < 2 {
				t.Errorf("%d spills and %d drains: the stream did not cross memory→file→memory", st.spills, st.drains)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			if fds.opened != 1 || fds.closed != 1 {
				t.Errorf("OnFile: %d opens, %d closes; want the one file reused", fds.opened, fds.closed)
			}
			assertEmptyDir(t, tc.opts.Dir)
		})
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("%s holds %d entries, want none (the temp file is unlinked)", dir, len(ents))
	}
}

func TestNewHoldsNothing(t *testing.T) {
	q := New(Options{})
	if !q.HoldsNothing() || q.Len() != 0 || q.Spilled() {
		t.Fatal("a new queue holds buffers")
	}
	if n := testing.AllocsPerRun(100, func() { _ = New(Options{}) }); n > 1 {
		t.Fatalf("New allocates %v times, want only the Queue", n)
	}
	if p, err := q.Peek(10); p != nil || err != nil {
		t.Fatalf("Peek on empty = %q, %v", p, err)
	}
}

func TestOptionsNormalised(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		wantChunk int
	}{
		{name: "default", opts: Options{}, wantChunk: DefaultChunkSize},
		{name: "power of two kept", opts: Options{ChunkSize: 4096}, wantChunk: 4096},
		{name: "rounded up", opts: Options{ChunkSize: 1000}, wantChunk: 1024},
		{name: "negative is default", opts: Options{ChunkSize: -5}, wantChunk: DefaultChunkSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := New(tc.opts).ChunkSize(); got != tc.wantChunk {
				t.Fatalf("chunk size %d, want %d", got, tc.wantChunk)
			}
		})
	}
}

func TestMemoryOnlyNeverOpensFile(t *testing.T) {
	var fds fdCounter
	q := New(Options{MemLimit: 1 << 10, ChunkSize: 256, Dir: "/nonexistent-ferry", OnFile: fds.hook})
	for i := range 100 {
		msg := []byte(strings.Repeat("x", i%50+1))
		if _, err := q.Write(msg); err != nil {
			t.Fatal(err)
		}
		p, _ := q.Peek(0)
		q.Discard(len(p))
		if rest, _ := q.Peek(0); len(rest) > 0 {
			q.Discard(len(rest))
		}
	}
	if fds.opened != 0 || q.File() != nil || q.Held() != 0 {
		t.Fatalf("memory-only traffic opened %d files, holds %d bytes", fds.opened, q.Held())
	}
}

func TestPeekSegments(t *testing.T) {
	q := New(Options{MemLimit: 8, ChunkSize: 4, Dir: t.TempDir()})
	if _, err := q.Write([]byte("abcdefghijkl")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		limit   int
		discard int
		want    string
	}{
		{name: "first chunk", limit: 0, discard: 1, want: "abcd"},
		{name: "limited", limit: 2, discard: 3, want: "bc"},
		{name: "second chunk", limit: 0, discard: 4, want: "efgh"},
		{name: "file part", limit: 0, discard: 2, want: "ijkl"},
		{name: "file part from offset", limit: 9, discard: 2, want: "kl"},
		{name: "empty", limit: 0, discard: 0, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := q.Peek(tc.limit)
			if err != nil || string(p) != tc.want || cap(p) != len(p) {
				t.Fatalf("Peek(%d) = %q (cap %d), %v; want %q", tc.limit, p, cap(p), err, tc.want)
			}
			q.Discard(tc.discard)
		})
	}
	if q.Spilled() || q.File() == nil {
		t.Fatal("drained queue should be unspilled with its file kept for reuse")
	}
	if fi, err := q.File().Stat(); err != nil || fi.Size() != 0 {
		t.Fatalf("drained file: %v, %v; want size 0", fi, err)
	}
}

func TestSpillKeepsOrderWhenMemoryFrees(t *testing.T) {
	// Once spilled, writes go to the file even though memory has room.
	q := New(Options{MemLimit: 4, ChunkSize: 4, Dir: t.TempDir()})
	for _, s := range []string{"abcd", "ef"} {
		if _, err := q.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	q.Discard(4) // memory is now empty, the file holds "ef"
	if _, err := q.Write([]byte("gh")); err != nil {
		t.Fatal(err)
	}
	if q.InMemory() != 0 {
		t.Fatalf("InMemory = %d: a write jumped ahead of the file", q.InMemory())
	}
	got, err := io.ReadAll(reader{q})
	if err != nil || string(got) != "efgh" {
		t.Fatalf("read %q, %v; want efgh", got, err)
	}
}

// reader drains a Queue as an io.Reader.
type reader struct{ q *Queue }

func (r reader) Read(p []byte) (int, error) {
	b, err := r.q.Peek(len(p))
	if err != nil {
		return 0, err
	}
	if len(b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b)
	r.q.Discard(n)
	return n, nil
}

func TestResetAndCloseRemoveFile(t *testing.T) {
	tests := []struct {
		name  string
		close bool
	}{
		{name: "reset", close: false},
		{name: "close", close: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fds fdCounter
			dir := t.TempDir()
			q := New(Options{MemLimit: 1 << 10, Dir: dir, OnFile: fds.hook})
			if _, err := q.Write(make([]byte, 10<<10)); err != nil {
				t.Fatal(err)
			}
			f := q.File()
			if !q.Spilled() || f == nil || fds.opened != 1 {
				t.Fatal("10 KiB over a 1 KiB limit did not spill")
			}
			assertEmptyDir(t, dir) // unlinked while open
			if tc.close {
				if err := q.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				q.Reset()
			}
			if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("file after %s: Stat err %v, want os.ErrClosed", tc.name, err)
			}
			if fds.closed != 1 || q.Len() != 0 || !q.HoldsNothing() {
				t.Fatalf("after %s: %d closes, Len %d, holds nothing %v", tc.name, fds.closed, q.Len(), q.HoldsNothing())
			}
			n, err := q.Write([]byte("again"))
			if tc.close {
				if !errors.Is(err, ErrClosed) || n != 0 {
					t.Fatalf("Write after Close = %d, %v", n, err)
				}
				if err := q.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				return
			}
			if err != nil || q.Len() != 5 {
				t.Fatalf("Write after Reset = %d, %v", n, err)
			}
		})
	}
}

func TestWriteErrorNamesDir(t *testing.T) {
	dir := t.TempDir() + "/missing"
	q := New(Options{MemLimit: 100, ChunkSize: 64, Dir: dir})
	n, err := q.Write(make([]byte, 250))
	if err == nil || !strings.Contains(err.Error(), `spill: create temp file in "`+dir+`"`) {
		t.Fatalf("err = %v, want it to name %s", err, dir)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist inside", err)
	}
	if n != 100 || q.Len() != 100 || q.InMemory() != 100 {
		t.Fatalf("Write = %d, Len %d: want the 100 bytes that fit in memory queued", n, q.Len())
	}
}

func TestWriteErrorFromFile(t *testing.T) {
	q := New(Options{MemLimit: -1, Dir: t.TempDir()})
	if _, err := q.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = q.File().Close() // simulate a broken descriptor
	n, err := q.Write([]byte("yz"))
	if err == nil || n != 0 || !strings.HasPrefix(err.Error(), "spill: ") {
		t.Fatalf("Write on a broken file = %d, %v", n, err)
	}
	if _, err := q.Peek(0); err == nil || !strings.HasPrefix(err.Error(), "spill: read temp file") {
		t.Fatalf("Peek on a broken file: %v", err)
	}
	_ = q.Close() // reports the double close; irrelevant here
}

func TestDiscardOutOfRangePanics(t *testing.T) {
	q := New(Options{})
	if _, err := q.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Discard past Len did not panic")
		}
	}()
	q.Discard(4)
}
