package upstream

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestConnQueueMatchesAFIFO drives the idle queue and a plain slice with
// the same random pushes, pops and removals and checks they agree after
// every step, compaction included.
func TestConnQueueMatchesAFIFO(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var q connQueue[*handler]
	var ref []*testConn
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5:
			pc := &testConn{}
			q.push(pc)
			ref = append(ref, pc)
		case op < 9:
			got := q.pop()
			var want *testConn
			if len(ref) > 0 {
				want, ref = ref[0], ref[1:]
			}
			if got != want {
				t.Fatalf("step %d: pop gave %p, want %p", step, got, want)
			}
		default:
			if len(ref) == 0 {
				continue
			}
			i := rng.IntN(len(ref))
			q.remove(ref[i])
			ref = slices.Delete(ref, i, i+1)
		}
		if q.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, q.len(), len(ref))
		}
		if q.head > 0 && q.head > len(q.q) {
			t.Fatalf("step %d: head %d past the slice (%d)", step, q.head, len(q.q))
		}
		for i := 0; i < q.head; i++ {
			if q.q[i] != nil {
				t.Fatalf("step %d: a taken slot still holds a connection", step)
			}
		}
	}
}

func BenchmarkConnQueueChurn(b *testing.B) {
	var q connQueue[*handler]
	pcs := make([]*testConn, 512)
	for i := range pcs {
		pcs[i] = &testConn{}
		q.push(pcs[i])
	}
	b.ReportAllocs()
	for b.Loop() {
		q.push(q.pop()) // FIFO reuse with 512 idle: O(1), no allocation
	}
}
