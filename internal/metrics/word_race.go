//go:build race || metrics_atomic

package metrics

import "sync/atomic"

// word is the race build's twin of word.go's single-writer cell: the same
// counts through atomics, so that the detector sees the scrape's reads
// ordered with the loop's writes. The metrics_atomic tag builds it
// without -race, to measure what the atomics would cost:
//
//	go test -tags metrics_atomic -run=NONE -bench=Request -benchmem ./internal/metrics/
type word struct{ v atomic.Uint64 }

func (w *word) add(n uint64) { w.v.Add(n) }

func (w *word) load() uint64 { return w.v.Load() }
