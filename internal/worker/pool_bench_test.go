package worker

import (
	"context"
	"testing"
)

// BenchmarkHop is the scheduler's hop: hand a task to a worker and get the
// result back, what an offloaded stream pays per filter phase (the loop's
// side of the hand-back is gnet's Execute, not measured here).
func BenchmarkHop(b *testing.B) {
	p, err := New(Options{Size: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background()) //nolint:errcheck // benchmark cleanup
	done := make(chan struct{}, 1)
	task := func() { done <- struct{}{} }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Submit(task); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}
