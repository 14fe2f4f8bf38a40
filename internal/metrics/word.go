//go:build !race && !metrics_atomic

package metrics

// word is one shard's uint64 cell. Its loop is the only writer, so an
// increment is a plain read-modify-write, not a locked instruction: a
// request's ~27 updates cost ~27 plain adds (BenchmarkRequest; the atomic
// twin in word_race.go is several times slower, see doc.go for the
// figures and the command). A scrape reads the word while the loop may
// write it: an aligned 64-bit load on a 64-bit platform is never torn,
// and the Go memory model lets a racy read of a word-sized value observe
// only a value some write stored (https://go.dev/ref/mem, "Implementation
// Restrictions for Programs Containing Data Races"), so a scrape sees a
// count that is at most a few updates old. The race detector cannot know
// that the write side has one goroutine: under -race, word_race.go's
// atomic twin is built instead.
type word struct{ v uint64 }

func (w *word) add(n uint64) { w.v += n }

func (w *word) load() uint64 { return w.v }
