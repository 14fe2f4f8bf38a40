package spill

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ferry-proxy/ferry/internal/backlog"
)

// TestBudgetBoundsMemory: queues sharing a process-wide budget take each
// memory chunk from it; once it is used up, a queue with room of its own
// spills at once; chunks and the file-read scratch buffer are counted while
// held and given back when freed, and every byte comes back in order.
func TestBudgetBoundsMemory(t *testing.T) {
	const chunk = DefaultChunkSize
	budget := backlog.New(2 * chunk)
	a := New(Options{MemLimit: 4 * chunk, Dir: t.TempDir(), Budget: budget})
	b := New(Options{MemLimit: 4 * chunk, Dir: t.TempDir(), Budget: budget})
	t.Cleanup(func() {
		for _, q := range []*Queue{a, b} {
			if err := q.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*chunk/16) // 3 chunks

	if n, err := a.Write(data); n != len(data) || err != nil {
		t.Fatalf("a.Write = %d, %v", n, err)
	}
	if a.InMemory() != 2*chunk || !a.Spilled() {
		t.Fatalf("a: %d bytes in memory, spilled %v; want the budget's 2 chunks, the rest on file", a.InMemory(), a.Spilled())
	}
	if !budget.Over() || budget.Used() != 2*chunk {
		t.Fatalf("budget: used %d, over %v; want %d and used up", budget.Used(), budget.Over(), 2*chunk)
	}
	if n, err := b.Write(data[:100]); n != 100 || err != nil {
		t.Fatalf("b.Write = %d, %v", n, err)
	}
	if b.InMemory() != 0 || !b.Spilled() {
		t.Fatalf("b: %d bytes in memory, spilled %v; want everything on file past the budget", b.InMemory(), b.Spilled())
	}

	// Reading a's memory back gives its chunks back; reading its file
	// counts the scratch buffer.
	var got []byte
	for a.Len() > 0 {
		p, err := a.Peek(0)
		if err != nil {
			t.Fatal(err)
		}
		if a.InMemory() == 0 && budget.Used() != chunk {
			t.Fatalf("reading a's file: budget counts %d, want the scratch chunk (%d)", budget.Used(), chunk)
		}
		got = append(got, p...)
		a.Discard(len(p))
	}
	if !bytes.Equal(got, data) {
		t.Fatal("a's bytes came back changed or out of order")
	}
	if budget.Used() != 0 {
		t.Fatalf("budget counts %d with a drained and b on file, want 0", budget.Used())
	}
	// With room in the budget again, b takes memory once its file drains.
	p, err := b.Peek(0)
	if err != nil || len(p) != 100 {
		t.Fatalf("b.Peek = %d bytes, %v", len(p), err)
	}
	b.Discard(100)
	if n, err := b.Write(data[:chunk]); n != chunk || err != nil || b.InMemory() != chunk {
		t.Fatalf("b.Write after drain = %d, %v, %d in memory; want one chunk in memory", n, err, b.InMemory())
	}
	if budget.Used() != chunk {
		t.Fatalf("budget counts %d, want b's chunk (%d)", budget.Used(), chunk)
	}
	b.Reset()
	if budget.Used() != 0 {
		t.Fatalf("budget counts %d after Reset, want 0", budget.Used())
	}
}

// TestDiskBudgetBoundsFiles: queues sharing a disk budget take every byte
// they put in a temp file from it; a write that does not fit puts nothing
// in the file and fails with ErrDiskBudget (its memory part, if any, is
// queued and counted), the queue keeps what it had, and the bytes come
// back as they are read, dropped by Reset or Close.
func TestDiskBudgetBoundsFiles(t *testing.T) {
	disk := backlog.New(100)
	a := New(Options{MemLimit: -1, Dir: t.TempDir(), DiskBudget: disk})
	b := New(Options{MemLimit: -1, Dir: t.TempDir(), DiskBudget: disk})
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	data := bytes.Repeat([]byte("x"), 60)
	if n, err := a.Write(data); n != 60 || err != nil {
		t.Fatalf("a.Write = %d, %v", n, err)
	}
	if n, err := b.Write(data); n != 0 || !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("b.Write past the budget = %d, %v; want 0, ErrDiskBudget", n, err)
	}
	if b.Len() != 0 || disk.Used() != 60 {
		t.Fatalf("after the refusal: b holds %d, budget used %d; want 0 and 60", b.Len(), disk.Used())
	}
	if n, err := b.Write(data[:40]); n != 40 || err != nil {
		t.Fatalf("b.Write within the budget = %d, %v", n, err)
	}
	// Reading a gives its bytes back: b may grow again.
	p, err := a.Peek(30)
	if err != nil || len(p) != 30 {
		t.Fatalf("a.Peek = %d bytes, %v", len(p), err)
	}
	a.Discard(30)
	if disk.Used() != 70 {
		t.Fatalf("after reading 30 of a: budget used %d, want 70", disk.Used())
	}
	if n, err := b.Write(data[:30]); n != 30 || err != nil {
		t.Fatalf("b.Write after a was read = %d, %v", n, err)
	}
	b.Reset()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if disk.Used() != 0 {
		t.Fatalf("after Reset and Close: budget used %d, want 0", disk.Used())
	}

	// A memory part is queued before the file part is refused.
	m := New(Options{MemLimit: 10, Dir: t.TempDir(), DiskBudget: backlog.New(5)})
	t.Cleanup(func() { _ = m.Close() })
	if n, err := m.Write(data[:20]); n != 10 || !errors.Is(err, ErrDiskBudget) {
		t.Fatalf("m.Write = %d, %v; want the 10 bytes of memory, ErrDiskBudget", n, err)
	}
	if m.Len() != 10 || m.Spilled() {
		t.Fatalf("m holds %d, spilled %v; want 10 in memory", m.Len(), m.Spilled())
	}
}
