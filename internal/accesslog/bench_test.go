package accesslog

import (
	"context"
	"io"
	"strings"
	"testing"
)

// richFormat is MOSN's default with the request line, the cluster and two
// headers: a typical configured format.
const richFormat = DefaultFormat + ` "%request_method% %request_uri%" %upstream_cluster% "%request_header_user-agent%" %request_header_x-request-id%`

// discard is a log file that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) Close() error                { return nil }

func discardWriter(tb testing.TB, lines int) *Writer {
	tb.Helper()
	w, err := Open("bench.log", Options{Lines: lines, open: func(string) (io.WriteCloser, error) { return discard{}, nil }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

// BenchmarkFormat is the cost of writing one line into a buffer, per
// encoding: go test -run=NONE -bench=Format -benchmem ./internal/accesslog/
func BenchmarkFormat(b *testing.B) {
	for _, enc := range []Encoding{Text, JSON} {
		b.Run(enc.String(), func(b *testing.B) {
			f := mustCompile(b, richFormat, enc)
			e := knownEntry()
			buf := f.Append(nil, e)
			b.ReportAllocs()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				buf = f.Append(buf[:0], e)
			}
		})
	}
}

// BenchmarkLog is what a request pays for its access log line: format
// into a line buffer and queue it for the writer goroutine. The timer is
// stopped while the writer catches up every 1,024 lines, so no line is
// dropped (drops/op says so) and every iteration pays for a whole line:
// go test -run=NONE -bench=Log -benchmem ./internal/accesslog/
func BenchmarkLog(b *testing.B) {
	for _, enc := range []Encoding{Text, JSON} {
		b.Run(enc.String(), func(b *testing.B) { logLines(b, enc, false) })
	}
}

// BenchmarkLogThroughput is the wall time per line of logging and writing
// it (to a discarding file) with both goroutines counted: the writer's
// rate, above which lines are dropped.
// go test -run=NONE -bench=LogThroughput -benchmem ./internal/accesslog/
func BenchmarkLogThroughput(b *testing.B) { logLines(b, Text, true) }

// logLines logs b.N lines of richFormat, letting the writer catch up every
// 1,024 lines (Reopen returns once the queue is written). withWrite counts
// that catching up in the time; otherwise only Log is timed. It reports the
// lines dropped per Log.
func logLines(b *testing.B, enc Encoding, withWrite bool) {
	w := discardWriter(b, DefaultLines)
	f := mustCompile(b, richFormat, enc)
	e := knownEntry()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Log(f, e)
		if i++; i%1024 != 0 {
			continue
		}
		if !withWrite {
			b.StopTimer()
		}
		if err := w.Reopen(context.Background()); err != nil {
			b.Fatal(err)
		}
		if !withWrite {
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(w.Stats().Dropped)/float64(b.N), "drops/op")
}

// TestLogAllocs pins what the benchmarks report: once the line buffers
// have grown, formatting and queueing a line allocates nothing, in either
// encoding and whether the line is queued or dropped.
func TestLogAllocs(t *testing.T) {
	for _, enc := range []Encoding{Text, JSON} {
		f := mustCompile(t, richFormat, enc)
		e := knownEntry()
		buf := f.Append(nil, e)
		if n := testing.AllocsPerRun(200, func() { buf = f.Append(buf[:0], e) }); n != 0 {
			t.Errorf("%v: %v allocations per Append, want 0", enc, n)
		}
		w := discardWriter(t, 4)
		for range 16 { // grow every line buffer
			w.Log(f, e)
			if err := w.Reopen(context.Background()); err != nil { // waits until the line is written
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(1000, func() { w.Log(f, e) }); n != 0 {
			t.Errorf("%v: %v allocations per Log, want 0", enc, n)
		}
		if !strings.Contains(string(buf), "curl/8.5.0") {
			t.Errorf("%v: line %q lacks the header", enc, buf)
		}
	}
}

// BenchmarkStartTime compares start_time's appender with AppendFormat:
// go test -run=NONE -bench=StartTime -benchmem ./internal/accesslog/
func BenchmarkStartTime(b *testing.B) {
	tm := knownEntry().Start.Local()
	buf := make([]byte, 0, 64)
	b.Run("appendStartTime", func(b *testing.B) {
		for b.Loop() {
			buf = appendStartTime(buf[:0], tm)
		}
	})
	b.Run("AppendFormat", func(b *testing.B) {
		for b.Loop() {
			buf = tm.AppendFormat(buf[:0], StartTimeLayout)
		}
	})
}
