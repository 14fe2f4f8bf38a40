package conn

import (
	"slices"
	"testing"
	"time"
)

func TestWheelFiresInOrderAndHonoursStops(t *testing.T) {
	var w wheel
	base := int64(1_000_000_000_000)
	w.init(10*time.Millisecond, base)
	var fired []int
	ts := make([]Timer, 5)
	for i := range ts {
		i := i
		ts[i].Init(TimerFunc(func() { fired = append(fired, i) }))
	}
	w.add(&ts[0], base+int64(30*time.Millisecond))
	w.add(&ts[1], base+int64(10*time.Millisecond))
	w.add(&ts[2], base+int64(20*time.Second)) // beyond one revolution (10.24 s)
	w.add(&ts[3], base+int64(20*time.Millisecond))
	w.add(&ts[4], base+int64(25*time.Millisecond))
	// Timer 3 stops timer 4, which is due in the same sweep.
	ts[3].Init(TimerFunc(func() { fired = append(fired, 3); w.remove(&ts[4]) }))

	w.advance(base + int64(35*time.Millisecond))
	if want := []int{1, 3, 0}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v (4 was stopped)", fired, want)
	}
	if ts[4].Armed() || w.count != 1 {
		t.Fatalf("armed=%v count=%d after the sweep", ts[4].Armed(), w.count)
	}
	w.advance(base + int64(11*time.Second)) // one revolution later: 2 is still not due
	if len(fired) != 3 {
		t.Fatalf("a timer fired a revolution early: %v", fired)
	}
	w.advance(base + int64(21*time.Second))
	if want := []int{1, 3, 0, 2}; !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	// Re-arming moves a timer; a timer re-armed from its own Fn fires again.
	n := 0
	var again Timer
	again.Init(TimerFunc(func() {
		n++
		if n < 3 {
			w.add(&again, base+int64(21*time.Second)+int64(n)*int64(20*time.Millisecond))
		}
	}))
	w.add(&again, base+int64(21*time.Second)+int64(5*time.Millisecond))
	w.advance(base + int64(22*time.Second))
	if n != 3 || w.count != 0 {
		t.Fatalf("re-armed timer fired %d times (count %d), want 3 (0)", n, w.count)
	}
}

// TestWheelNeverFiresARevolutionLate is the regression test for timers
// filed under the tick their deadline falls in: a sweep inside that tick
// but before the deadline skipped them for a whole revolution (10.24 s).
func TestWheelNeverFiresARevolutionLate(t *testing.T) {
	var w wheel
	tick := int64(10 * time.Millisecond)
	base := int64(1_000_000_000_000)
	w.init(10*time.Millisecond, base)
	fired := 0
	var tm Timer
	tm.Init(TimerFunc(func() { fired++ }))
	w.add(&tm, base+tick+tick/2) // mid-way through tick 1
	w.advance(base + tick + tick/4)
	if fired != 0 {
		t.Fatal("fired before its deadline")
	}
	w.advance(base + 2*tick)
	if fired != 1 {
		t.Fatalf("not fired one tick after its deadline (fired=%d)", fired)
	}
}

// BenchmarkWheelRearm is what a request costs the wheel: its connection's
// timer re-armed (read timeout, then keep-alive idle) and stopped, among
// 10,000 armed timers.
func BenchmarkWheelRearm(b *testing.B) {
	var w wheel
	base := int64(1_000_000_000_000)
	w.init(10*time.Millisecond, base)
	idle := make([]Timer, 10000)
	for i := range idle {
		idle[i].Init(TimerFunc(func() {}))
		w.add(&idle[i], base+int64(i)*int64(time.Millisecond))
	}
	var t Timer
	t.Init(TimerFunc(func() {}))
	b.ReportAllocs()
	for b.Loop() {
		w.add(&t, base+int64(60*time.Second))
		w.add(&t, base+int64(75*time.Second))
		w.remove(&t)
	}
}
