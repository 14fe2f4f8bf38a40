package backlog

import (
	"sync"
	"testing"
)

// TestBudget: Take refuses past the limit, Charge never does, Over says
// when the limit is reached, Peak keeps the most counted at once, and the
// nil budget counts nothing and refuses nothing.
func TestBudget(t *testing.T) {
	b := New(100)
	if !b.Take(60) || b.Take(41) || !b.Take(40) {
		t.Fatalf("Take: used %d after 60 (ok), 41 (refused), 40 (ok)", b.Used())
	}
	if !b.Over() || b.Used() != 100 {
		t.Fatalf("used %d, over %v; want 100, over", b.Used(), b.Over())
	}
	b.Charge(50) // bytes already held cannot be refused
	if b.Used() != 150 || b.Peak() != 150 || b.Take(1) {
		t.Fatalf("after Charge: used %d peak %d; want 150 and Take refused", b.Used(), b.Peak())
	}
	b.Charge(-50)
	b.Give(60)
	if b.Over() || b.Used() != 40 || b.Peak() != 150 {
		t.Fatalf("after giving back: used %d over %v peak %d; want 40, not over, peak 150", b.Used(), b.Over(), b.Peak())
	}
	b.ResetPeak()
	if b.Peak() != 40 {
		t.Fatalf("ResetPeak: peak %d, want 40", b.Peak())
	}

	var none *Budget
	if !none.Take(1<<40) || none.Over() || none.Used() != 0 || none.Peak() != 0 || none.Limit() != 0 {
		t.Fatal("the nil budget must count nothing and refuse nothing")
	}
	none.Charge(5)
	none.Give(5)
	none.ResetPeak()

	unlimited := New(0)
	if !unlimited.Take(1<<40) || unlimited.Over() || unlimited.Used() != 1<<40 {
		t.Fatalf("no limit: used %d, over %v", unlimited.Used(), unlimited.Over())
	}
}

// TestBudgetConcurrent: loops taking and giving at once never see the
// limit passed by Take.
func TestBudgetConcurrent(t *testing.T) {
	b := New(1000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10000 {
				if b.Take(10) {
					b.Give(10)
				}
			}
		})
	}
	wg.Wait()
	if b.Used() != 0 || b.Peak() > 1000 {
		t.Fatalf("used %d, peak %d; want 0 and at most 1000", b.Used(), b.Peak())
	}
}
