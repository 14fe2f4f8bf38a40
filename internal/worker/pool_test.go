package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// ants starts its package-level default pool in init; IgnoreCurrent keeps
// those goroutines out while every goroutine of our pools is checked.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreCurrent()) }

func TestPoolBoundsWorkersAndQueue(t *testing.T) {
	p, err := New(Options{Size: 1, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var ran atomic.Int64
	var wg sync.WaitGroup
	block := func() { defer wg.Done(); <-release; ran.Add(1) }
	wg.Add(2)
	if err := p.Submit(block); err != nil {
		t.Fatalf("first submit: %v", err)
	}
	if err := p.Submit(block); err != nil {
		t.Fatalf("second submit should queue: %v", err)
	}
	if err := p.Submit(func() { t.Error("a rejected task ran") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("third submit = %v, want ErrBusy", err)
	}
	if st := p.Stats(); st.Busy != 1 || st.Running != 1 {
		t.Fatalf("stats %+v, want 1 running and 1 rejected", st)
	}
	close(release)
	wg.Wait()
	if ran.Load() != 2 {
		t.Fatalf("ran %d tasks, want 2", ran.Load())
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close = %v, want ErrClosed", err)
	}
}

func TestPoolSurvivesPanics(t *testing.T) {
	var seen atomic.Value
	p, err := New(Options{Size: 2, OnPanic: func(v any) { seen.Store(v) }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background()) //nolint:errcheck // test cleanup
	if err := p.Submit(func() { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for seen.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("panic handler never ran")
		}
		time.Sleep(time.Millisecond)
	}
	done := make(chan struct{})
	if err := p.Submit(func() { close(done) }); err != nil {
		t.Fatalf("pool unusable after a panic: %v", err)
	}
	<-done
	if p.Stats().Panics != 1 || seen.Load() != "boom" {
		t.Fatalf("panics %d, handler saw %v", p.Stats().Panics, seen.Load())
	}
}

func TestCloseWaitsForRunningTasks(t *testing.T) {
	p, err := New(Options{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var finished atomic.Bool
	if err := p.Submit(func() {
		close(started)
		time.Sleep(20 * time.Millisecond) // a task that takes a while
		finished.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Close returned before the running task finished")
	}
}

// TestCap: Cap is the configured size, which the metrics export as
// ferry_worker_pool_size.
func TestCap(t *testing.T) {
	p, err := New(Options{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close(context.Background()) }()
	if got := p.Cap(); got != 3 {
		t.Fatalf("Cap = %d, want 3", got)
	}
}
