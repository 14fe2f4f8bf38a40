package accesslog

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gatedOut is a log file whose writes wait for the test: the first Write
// announces itself on entered and every Write waits until release is
// closed.
type gatedOut struct {
	entered chan struct{}
	release chan struct{}
	testutil.Buffer
	closed atomic.Bool
}

func newGatedOut() *gatedOut {
	return &gatedOut{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (g *gatedOut) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.Buffer.Write(p)
}

func (g *gatedOut) Close() error {
	g.closed.Store(true)
	return nil
}

// failingOut fails every write.
type failingOut struct{}

func (failingOut) Write([]byte) (int, error) { return 0, errors.New("disk full") }
func (failingOut) Close() error              { return nil }

func openWith(t *testing.T, opts Options, out io.WriteCloser) *Writer {
	t.Helper()
	opts.open = func(string) (io.WriteCloser, error) { return out, nil }
	w, err := Open("test.log", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

func code(c int) *Entry { return &Entry{ResponseCode: c} }

// TestDropsWhenWriterBlocked: with the file stuck in a write, Log keeps
// returning; once every line buffer is queued, further lines are dropped
// and counted, and the queued ones are written when the file moves again.
func TestDropsWhenWriterBlocked(t *testing.T) {
	out := newGatedOut()
	w := openWith(t, Options{Lines: 4}, out)
	f := mustCompile(t, "%response_code%", Text)

	w.Log(f, code(200))
	<-out.entered // the writer goroutine is stuck writing the first line
	for c := 201; c <= 207; c++ {
		w.Log(f, code(c)) // 201-204 take the four buffers; 205-207 are dropped
	}
	if s := w.Stats(); s.Dropped != 3 {
		t.Fatalf("dropped %d lines, want 3 (%+v)", s.Dropped, s)
	}
	close(out.release)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "200\n201\n202\n203\n204\n"; got != want {
		t.Fatalf("file %q, want %q", got, want)
	}
	if s := w.Stats(); s.Lines != 5 || s.Dropped != 3 || s.Errors != 0 {
		t.Fatalf("stats %+v, want 5 lines, 3 dropped, 0 errors", s)
	}
	if !out.closed.Load() {
		t.Fatal("Close did not close the file")
	}
	w.Log(f, code(208))
	if s := w.Stats(); s.Dropped != 4 {
		t.Fatalf("a line after Close: %d dropped, want 4", s.Dropped)
	}
	if err := w.Reopen(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reopen after Close = %v, want ErrClosed", err)
	}
}

// TestReopenAfterRename is logrotate's sequence: rename the file, then
// SIGUSR1 (Reopen). Lines logged before Reopen stay in the renamed file,
// later ones go to a new file at the path.
func TestReopenAfterRename(t *testing.T) {
	p := filepath.Join(t.TempDir(), "access.log")
	w, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := mustCompile(t, "%response_code% %upstream_cluster%", Text)
	w.Log(f, &Entry{ResponseCode: 200, UpstreamCluster: "before"})
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Log(f, &Entry{ResponseCode: 201, UpstreamCluster: "after"})
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p+".1"); got != "200 before\n" {
		t.Errorf("rotated file %q, want %q", got, "200 before\n")
	}
	if got := readFile(t, p); got != "201 after\n" {
		t.Errorf("new file %q, want %q", got, "201 after\n")
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v (%v), want 0644", fi.Mode(), err)
	}
}

// errReports records what a Writer reports through Options.OnError.
type errReports struct {
	mu  sync.Mutex
	got []string
}

func (e *errReports) onError(path string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, path+": "+err.Error())
}

// expectOne checks that exactly one error was reported, want.
func (e *errReports) expectOne(t *testing.T, want string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.got) != 1 || e.got[0] != want {
		t.Fatalf("reported %q, want one %q", e.got, want)
	}
}

// TestReopenFailure: a file that cannot be reopened is reported, lines
// are dropped and counted until a later Reopen succeeds.
func TestReopenFailure(t *testing.T) {
	var reported errReports
	calls := 0
	outs := []*gatedOut{newGatedOut(), newGatedOut()}
	for _, o := range outs {
		close(o.release)
	}
	opts := Options{
		OnError: reported.onError,
		open: func(string) (io.WriteCloser, error) {
			calls++
			switch calls {
			case 1:
				return outs[0], nil
			case 2:
				return nil, errors.New("permission denied")
			}
			return outs[1], nil
		},
	}
	w, err := Open("x.log", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close(context.Background()) }()
	f := mustCompile(t, "%response_code%", Text)
	w.Log(f, code(200))
	if err := w.Reopen(context.Background()); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Reopen = %v, want the open error", err)
	}
	w.Log(f, code(201)) // no file: dropped
	if err := w.Reopen(context.Background()); err != nil {
		t.Fatalf("second Reopen: %v", err)
	}
	w.Log(f, code(202))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if outs[0].String() != "200\n" || outs[1].String() != "202\n" {
		t.Fatalf("files %q and %q, want 200 and 202", outs[0].String(), outs[1].String())
	}
	if s := w.Stats(); s.Lines != 2 || s.Dropped != 1 || s.Errors != 1 {
		t.Fatalf("stats %+v, want 2 lines, 1 dropped, 1 error", s)
	}
	reported.expectOne(t, "x.log: permission denied")
}

// TestWriteErrorsReportedOnce: a file that fails every write is counted
// for each failure and reported once.
func TestWriteErrorsReportedOnce(t *testing.T) {
	var reported errReports
	w := openWith(t, Options{OnError: reported.onError}, failingOut{})
	f := mustCompile(t, "%response_code%", Text)
	for range 3 {
		w.Log(f, code(500))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Errors < 1 || s.Lines != 3 {
		t.Fatalf("stats %+v, want at least one error and 3 lines handed over", s)
	}
	reported.expectOne(t, "test.log: disk full")
}

// TestConcurrentLogAndReopen: lines logged from many goroutines while the
// file is reopened are each either written whole or counted as dropped.
func TestConcurrentLogAndReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "access.log")
	fs := NewFiles(Options{Lines: 64})
	w := fs.Add(p)
	if err := fs.Start(); err != nil {
		t.Fatal(err)
	}
	f := mustCompile(t, "%response_code% %upstream_cluster%", JSON)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			e := &Entry{ResponseCode: 200 + g, UpstreamCluster: strings.Repeat("c", 1+g*100)}
			for range each {
				w.Log(f, e)
			}
		})
	}
	for range 20 {
		if err := fs.Reopen(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := fs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := fs.Stats()[0]
	if s.Lines+s.Dropped != goroutines*each || s.Errors != 0 {
		t.Fatalf("stats %+v: lines + dropped must be %d", s, goroutines*each)
	}
	lines := strings.Split(strings.TrimSuffix(readFile(t, p), "\n"), "\n")
	if uint64(len(lines)) != s.Lines {
		t.Fatalf("%d lines in the file, %d counted", len(lines), s.Lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"response_code":20`) || !strings.HasSuffix(l, `"}`) {
			t.Fatalf("torn line %q", l)
		}
	}
}

// TestFilesShareWriters: listeners logging to one path share its Writer
// (and goroutine); the standard streams are never closed.
func TestFilesShareWriters(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(Options{})
	a := fs.Add(filepath.Join(dir, "a.log"))
	b := fs.Add(filepath.Join(dir, ".", "a.log"))
	c := fs.Add(Stderr)
	if a != b || a == c {
		t.Fatalf("writers %p %p %p: the same path must share one", a, b, c)
	}
	if err := fs.Start(); err != nil {
		t.Fatal(err)
	}
	if err := fs.Reopen(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := fs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fs.Stats()) != 2 {
		t.Fatalf("%d files, want 2", len(fs.Stats()))
	}
	if _, err := os.Stderr.Stat(); err != nil {
		t.Fatalf("stderr closed: %v", err)
	}
	out, err := openPath(Stdout)
	if err != nil || out.(nopCloser).Writer != os.Stdout {
		t.Fatalf("stdout opened as %v, %v", out, err)
	}
}

// TestStartLifecycle: lines logged before Start wait for it; a file that
// cannot be opened fails Start; Reopen before Start and Start after Close
// are refused; closing a Writer never started is a no-op.
func TestStartLifecycle(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(Options{})
	good := fs.Add(filepath.Join(dir, "good.log"))
	f := mustCompile(t, "%response_code%", Text)
	good.Log(f, code(200))
	if err := good.Reopen(context.Background()); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Reopen before Start = %v, want ErrNotStarted", err)
	}
	if err := fs.Reopen(context.Background()); err != nil {
		t.Fatalf("Files.Reopen before Start = %v, want nil (nothing started)", err)
	}
	fs.Add(filepath.Join(dir, "missing", "x.log"))
	if err := fs.Start(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing", "x.log")) {
		t.Fatalf("Start = %v, want the missing directory's error naming the path", err)
	}
	if err := good.Start(); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("second Start = %v", err)
	}
	if err := fs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "good.log")); got != "200\n" {
		t.Fatalf("file %q: the line logged before Start is lost", got)
	}
	if err := good.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
	unstarted := NewWriter(filepath.Join(dir, "never.log"), Options{})
	if err := unstarted.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "never.log")); !os.IsNotExist(err) {
		t.Fatalf("a Writer never started created its file (%v)", err)
	}
}

// TestLoggerWritesEverySink: one entry, two formats, two files.
func TestLoggerWritesEverySink(t *testing.T) {
	dir := t.TempDir()
	fs := NewFiles(Options{})
	defer func() { _ = fs.Close(context.Background()) }()
	var sinks []Sink
	for i, enc := range []Encoding{Text, JSON} {
		w := fs.Add(filepath.Join(dir, strconv.Itoa(i)+".log"))
		sinks = append(sinks, Sink{Format: mustCompile(t, "%response_code% %request_method%", enc), Writer: w})
	}
	if err := fs.Start(); err != nil {
		t.Fatal(err)
	}
	l := NewLogger(sinks...)
	l.Log(&Entry{ResponseCode: 204, Method: []byte("DELETE")})
	if err := fs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "0.log")); got != "204 DELETE\n" {
		t.Errorf("text log %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "1.log")); got != `{"response_code":204,"request_method":"DELETE"}`+"\n" {
		t.Errorf("json log %q", got)
	}
}

func readFile(t *testing.T, p string) string { t.Helper(); return testutil.ReadFile(t, p) }

// TestCheckPath: what validate refuses before anything is opened.
func TestCheckPath(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.log")
	if err := os.WriteFile(existing, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{Stdout, Stderr, existing, filepath.Join(dir, "new.log")} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%s) = %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.log")); !os.IsNotExist(err) {
		t.Errorf("CheckPath created the file (%v)", err)
	}
	cases := map[string]string{
		"":                                "empty path",
		dir:                               "not a regular file",
		filepath.Join(dir, "no", "x.log"): "no such file or directory",
		filepath.Join(existing, "x.log"):  "is not a directory",
	}
	for p, want := range cases {
		if err := CheckPath(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPath(%q) = %v, want an error containing %q", p, err, want)
		}
	}
}

// TestStuckWriterDoesNotHoldTheCaller: with the file stuck in a write,
// Reopen and Close return when their context is done instead of holding
// the signal loop or the shutdown; the goroutine finishes once the write
// returns.
func TestStuckWriterDoesNotHoldTheCaller(t *testing.T) {
	out := newGatedOut()
	w := openWith(t, Options{Lines: 4}, out)
	f := mustCompile(t, "%response_code%", Text)
	w.Log(f, code(200))
	<-out.entered // stuck writing the first line
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Reopen(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stuck in a write") {
		t.Fatalf("Reopen of a stuck writer = %v, want the context's error", err)
	}
	if err := w.Close(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "queued lines are lost") {
		t.Fatalf("Close of a stuck writer = %v, want the context's error", err)
	}
	close(out.release) // the write returns; the goroutine drains and exits
	<-w.done
	if got := out.String(); got != "200\n" {
		t.Fatalf("file %q", got)
	}
}
