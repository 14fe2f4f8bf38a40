package upstream

import "testing"

// BenchmarkBreakerRequest is what a limited max_requests costs a request:
// one TryAcquire and one Release, from one loop.
func BenchmarkBreakerRequest(b *testing.B) {
	var br Breaker
	for b.Loop() {
		if br.TryAcquire(LimitRequests, 1<<20) {
			br.Release(LimitRequests)
		}
	}
}

// BenchmarkBreakerRequestParallel is the same from every loop at once, on
// the one counter they share.
func BenchmarkBreakerRequestParallel(b *testing.B) {
	var br Breaker
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if br.TryAcquire(LimitRequests, 1<<20) {
				br.Release(LimitRequests)
			}
		}
	})
}
