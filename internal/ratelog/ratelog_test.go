package ratelog

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clocked is a Limiter on a clock the test moves.
func clocked(keys int, every time.Duration) (*Limiter, *atomic.Int64) {
	l := New(keys, every)
	var now atomic.Int64
	now.Store(int64(time.Hour)) // any start: the first event always passes
	l.now = now.Load
	return l, &now
}

func TestOnePerIntervalWithTheCountOfTheRest(t *testing.T) {
	l, now := clocked(2, time.Second)
	if ok, n := l.Allow(0); !ok || n != 0 {
		t.Fatalf("first event: %v %d, want let through, 0 suppressed", ok, n)
	}
	for i := range 5 {
		if ok, _ := l.Allow(0); ok {
			t.Fatalf("event %d in the same interval was let through", i+2)
		}
	}
	// Another key has its own interval.
	if ok, n := l.Allow(1); !ok || n != 0 {
		t.Fatalf("key 1: %v %d, want let through", ok, n)
	}
	now.Add(int64(999 * time.Millisecond))
	if ok, _ := l.Allow(0); ok {
		t.Fatal("let through before the interval ended")
	}
	now.Add(int64(time.Millisecond))
	if ok, n := l.Allow(0); !ok || n != 6 {
		t.Fatalf("after the interval: %v, %d suppressed, want let through with 6", ok, n)
	}
	if ok, _ := l.Allow(0); ok {
		t.Fatal("a second event right after was let through")
	}
}

func TestKeyOutOfRangeAlwaysPasses(t *testing.T) {
	l, _ := clocked(1, time.Second)
	for _, k := range []int{-1, 1, 100} {
		for range 3 {
			if ok, n := l.Allow(k); !ok || n != 0 {
				t.Fatalf("key %d: %v %d", k, ok, n)
			}
		}
	}
}

func TestNewRefusesANonPositiveInterval(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(1, 0) did not panic")
		}
	}()
	New(1, 0)
}

// TestConcurrentEventsAreEachCountedOnce: events from many goroutines in
// one interval are one let through and the rest suppressed, none lost.
func TestConcurrentEventsAreEachCountedOnce(t *testing.T) {
	l, now := clocked(1, time.Second)
	const goroutines, each = 8, 1000
	var passed atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if ok, _ := l.Allow(0); ok {
					passed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if passed.Load() != 1 {
		t.Fatalf("%d events let through in one interval, want 1", passed.Load())
	}
	now.Add(int64(time.Second))
	if ok, n := l.Allow(0); !ok || n != goroutines*each-1 {
		t.Fatalf("next interval: %v, %d suppressed, want %d", ok, n, goroutines*each-1)
	}
}

func BenchmarkAllowHeldBack(b *testing.B) {
	l := New(1, time.Hour)
	l.Allow(0)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(0)
	}
}
