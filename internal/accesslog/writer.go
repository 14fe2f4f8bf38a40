package accesslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Paths that name the process's standard streams instead of a file.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// DefaultLines is how many lines a Writer holds between the request
// goroutines and its file when Options.Lines is zero.
const DefaultLines = 4096

// maxKeep is the largest line buffer a Writer keeps for reuse; a buffer
// that grew past it (a line with huge headers) is freed after its write,
// so the memory a Writer holds stays near Lines × a typical line.
const maxKeep = 4 << 10

// DefaultFlushInterval is how often a Writer writes the lines queued
// when Options.FlushInterval is zero.
const DefaultFlushInterval = 100 * time.Millisecond

// bufSize is the write buffer in front of the file: the writer goroutine
// copies lines into it and writes it when it is full or when no line is
// waiting.
const bufSize = 64 << 10

// Errors of Start and Reopen.
var (
	// ErrClosed is returned by Start and Reopen on a closed Writer.
	ErrClosed = errors.New("accesslog: writer closed")
	// ErrNotStarted is returned by Reopen before Start.
	ErrNotStarted = errors.New("accesslog: writer not started")
)

// Options configure Writers.
type Options struct {
	// Lines bounds the lines waiting for the writer goroutine (formatted
	// and not yet copied to the file's buffer); a line logged when all are
	// taken is dropped and counted. Zero means DefaultLines.
	Lines int
	// FlushInterval is how often the writer goroutine wakes to write the
	// queued lines; it also wakes as soon as a quarter of Lines are
	// queued. A line reaches the file at most this late. Zero means
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// OnError is told about a failed write, flush or reopen, on the
	// writer goroutine: once when writing starts failing, not for every
	// line that fails after it. Nil ignores errors (they are counted all
	// the same).
	OnError func(path string, err error)
	// open opens path; tests replace it. Nil means openPath.
	open func(path string) (io.WriteCloser, error)
}

// Stats are a Writer's counters.
type Stats struct {
	// Path is the log's path ("stdout", "stderr" or a file).
	Path string
	// Lines counts lines handed to the file's buffer.
	Lines uint64
	// Dropped counts lines not written: logged while every line buffer
	// was taken (the file is slower than the requests), while the file
	// could not be opened, or after Close.
	Dropped uint64
	// Errors counts failed writes, flushes and reopens.
	Errors uint64
}

// Writer writes one log file from its own goroutine. Log formats a line
// into one of a fixed set of line buffers and queues it, and never blocks:
// when every buffer is taken the line is dropped and counted. The
// goroutine wakes every FlushInterval, or when a quarter of the buffers
// are queued, copies the queued lines into a buffered writer and writes
// it to the file; so a request's Log does not wake a goroutine (which can
// cost its event loop a futex call) except once per quarter queue. Reopen
// closes and reopens the file there, for log rotation; Close writes what
// is queued and closes the file.
type Writer struct {
	path string
	opts Options
	// free holds the line buffers not in use; queue the formatted lines.
	// Both have room for every buffer, so neither send ever blocks.
	free  chan *[]byte
	queue chan *[]byte
	// kick wakes the writer goroutine early; Log sends (without blocking)
	// once kickAt lines are queued.
	kick   chan struct{}
	kickAt int
	ctl    chan chan error
	stop   chan struct{}
	done   chan struct{}

	// mu orders Start, Reopen and Close; started is set by Start.
	mu        sync.Mutex
	started   bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	lines, dropped, errs atomic.Uint64

	// The writer goroutine's own.
	out     io.WriteCloser // nil when the file could not be opened
	bw      *bufio.Writer
	failing bool // the last write failed: OnError was told
}

// NewWriter returns the Writer of path with its line buffers, not yet
// writing: Start opens the file. Lines logged before Start wait in the
// queue (and are dropped once it is full). Control goroutine.
func NewWriter(path string, opts Options) *Writer {
	if opts.Lines <= 0 {
		opts.Lines = DefaultLines
	}
	if opts.open == nil {
		opts.open = openPath
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	w := &Writer{
		path:   path,
		opts:   opts,
		free:   make(chan *[]byte, opts.Lines),
		queue:  make(chan *[]byte, opts.Lines),
		kick:   make(chan struct{}, 1),
		kickAt: max(1, opts.Lines/4),
		ctl:    make(chan chan error),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	bufs := make([][]byte, opts.Lines)
	for i := range bufs {
		w.free <- &bufs[i]
	}
	return w
}

// Start opens the file for appending (creating it with mode 0644;
// "stdout" and "stderr" name the standard streams) and starts the writer
// goroutine. Control goroutine.
func (w *Writer) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed.Load():
		return ErrClosed
	case w.started:
		return errors.New("accesslog: " + w.path + ": already started")
	}
	out, err := w.opts.open(w.path)
	if err != nil {
		return err
	}
	w.out = out
	w.bw = bufio.NewWriterSize(out, bufSize)
	w.started = true
	go w.run()
	return nil
}

// Open is NewWriter and Start. Control goroutine.
func Open(path string, opts Options) (*Writer, error) {
	w := NewWriter(path, opts)
	if err := w.Start(); err != nil {
		return nil, err
	}
	return w, nil
}

// openPath opens a log file, or returns a standard stream.
func openPath(path string) (io.WriteCloser, error) {
	switch path {
	case Stdout:
		return nopCloser{os.Stdout}, nil
	case Stderr:
		return nopCloser{os.Stderr}, nil
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// nopCloser keeps a standard stream open when its Writer closes.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Path returns the path the Writer was opened with. Any goroutine.
func (w *Writer) Path() string { return w.path }

// Log formats e with f and queues the line. It never blocks and, once the
// line buffers have grown to the usual line size, allocates nothing; when
// every buffer is taken, or after Close, the line is dropped and counted.
// Any goroutine.
func (w *Writer) Log(f *Format, e *Entry) {
	if w.closed.Load() {
		w.dropped.Add(1)
		return
	}
	var b *[]byte
	select {
	case b = <-w.free:
	default:
		w.dropped.Add(1)
		return
	}
	*b = f.Append((*b)[:0], e)
	w.queue <- b // room for every buffer: never blocks
	if len(w.queue) >= w.kickAt {
		select {
		case w.kick <- struct{}{}:
		default: // already kicked
		}
	}
}

// Stats returns the Writer's counters. Any goroutine.
func (w *Writer) Stats() Stats {
	return Stats{Path: w.path, Lines: w.lines.Load(), Dropped: w.dropped.Load(), Errors: w.errs.Load()}
}

// Reopen writes what is queued, closes the file and opens path again (a
// file renamed by logrotate is left behind, and a new one is created). It
// waits for the writer goroutine, which does the work, until ctx is done:
// a goroutine stuck in a write (a hung disk, a full pipe on stdout) makes
// it return an error rather than hold the caller, and the reopen happens
// when the write returns. The standard streams are only flushed. Control
// goroutine.
func (w *Writer) Reopen(ctx context.Context) error {
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	if !started {
		return ErrNotStarted
	}
	r := make(chan error, 1) // the goroutine's answer never waits for a reader
	select {
	case w.ctl <- r:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("accesslog: %s: reopen: the writer is stuck in a write: %w", w.path, ctx.Err())
	}
	select {
	case err := <-r:
		return err
	case <-ctx.Done():
		return fmt.Errorf("accesslog: %s: reopen: the writer is stuck in a write (it reopens when the write returns): %w",
			w.path, ctx.Err())
	}
}

// Close writes every queued line, closes the file and stops the writer
// goroutine; lines logged afterwards are dropped and counted. A Writer
// never started has nothing to write. It waits for the goroutine until ctx
// is done: a goroutine stuck in a write is left to finish on its own (its
// queued lines are lost, and the file stays open until then), so that a
// hung disk cannot stop ferry from exiting. Calling it again returns the
// first call's result. Control goroutine.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed.Store(true)
		started := w.started
		w.mu.Unlock()
		if !started {
			return
		}
		close(w.stop)
		select {
		case <-w.done:
			w.closeErr = w.closeOut()
		case <-ctx.Done():
			w.closeErr = fmt.Errorf("accesslog: %s: the writer is stuck in a write; its queued lines are lost: %w",
				w.path, ctx.Err())
		}
	})
	return w.closeErr
}

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			w.drain()
			w.flush()
		case <-w.kick:
			w.drain()
			w.flush()
		case r := <-w.ctl:
			r <- w.reopen()
		case <-w.stop:
			w.drain()
			w.flush()
			return
		}
	}
}

// drain writes every line already queued. Writer goroutine.
func (w *Writer) drain() {
	for {
		select {
		case b := <-w.queue:
			w.write(b)
		default:
			return
		}
	}
}

// write copies one line into the file's buffer and frees its buffer.
// Writer goroutine.
func (w *Writer) write(b *[]byte) {
	if w.out == nil {
		w.dropped.Add(1)
	} else if _, err := w.bw.Write(*b); err != nil {
		w.fail(err)
	} else {
		w.lines.Add(1)
	}
	if cap(*b) > maxKeep {
		*b = nil
	}
	w.free <- b // room for every buffer: never blocks
}

// flush writes the file's buffer. Writer goroutine.
func (w *Writer) flush() {
	if w.out == nil || w.bw.Buffered() == 0 {
		return
	}
	if err := w.bw.Flush(); err != nil {
		w.fail(err)
		return
	}
	w.failing = false
}

// fail counts err, tells OnError when writing starts failing, and resets
// the buffer (a bufio.Writer keeps its first error forever). Writer
// goroutine.
func (w *Writer) fail(err error) {
	w.errs.Add(1)
	if !w.failing && w.opts.OnError != nil {
		w.opts.OnError(w.path, err)
	}
	w.failing = true
	w.bw.Reset(w.out)
}

// reopen writes the lines queued before Reopen was called, then closes
// and opens the file again. Writer goroutine.
func (w *Writer) reopen() error {
	w.drain()
	w.flush()
	if w.path == Stdout || w.path == Stderr {
		return nil
	}
	cerr := w.closeOut()
	out, err := w.opts.open(w.path)
	if err != nil {
		w.errs.Add(1)
		if w.opts.OnError != nil {
			w.opts.OnError(w.path, err)
		}
		return errors.Join(cerr, err)
	}
	w.out = out
	w.bw.Reset(out)
	w.failing = false
	return cerr
}

// closeOut closes the file, if one is open. Writer goroutine, or Close
// after it stopped.
func (w *Writer) closeOut() error {
	if w.out == nil {
		return nil
	}
	err := w.out.Close()
	w.out = nil
	return err
}

// CheckPath reports why path cannot be opened as an access log, without
// creating anything (ferry validate runs it; Start opens the file): the
// standard streams are fine; an existing file must be a regular file
// that opens for appending; a new file needs an existing, writable
// directory. Control goroutine.
func CheckPath(path string) error {
	switch path {
	case Stdout, Stderr:
		return nil
	case "":
		return errors.New("empty path: a file, stdout or stderr")
	}
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return errors.New(path + ": not a regular file")
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory of %s: %w", path, err)
	}
	if !fi.IsDir() {
		return errors.New("directory of " + path + ": " + dir + " is not a directory")
	}
	if err := syscall.Access(dir, 2); err != nil { // W_OK
		return fmt.Errorf("directory %s: not writable: %w", dir, err)
	}
	return nil
}
