package accesslog

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
)

// Sink is one access log of a listener: a format and the file it is
// written to.
type Sink struct {
	Format *Format
	Writer *Writer
}

// Logger writes a request's line to each access log of a listener.
// Immutable once built, so any goroutine may call Log.
type Logger struct {
	sinks []Sink
}

// NewLogger returns a Logger writing to sinks. Control goroutine.
func NewLogger(sinks ...Sink) *Logger {
	return &Logger{sinks: append([]Sink(nil), sinks...)}
}

// Log formats e for every sink and queues the lines; it never blocks (see
// Writer.Log) and keeps no reference to e. Any goroutine.
func (l *Logger) Log(e *Entry) {
	for i := range l.sinks {
		l.sinks[i].Writer.Log(l.sinks[i].Format, e)
	}
}

// Files owns the open access log files of a process: one Writer, and so
// one goroutine, per path, shared by every listener that logs there.
type Files struct {
	opts Options
	mu   sync.Mutex
	m    map[string]*Writer
	list []*Writer // in opening order
}

// NewFiles returns an empty set of files whose Writers use opts. Control
// goroutine.
func NewFiles(opts Options) *Files {
	return &Files{opts: opts, m: map[string]*Writer{}}
}

// Add returns the Writer of path, created (not started) the first time.
// A file path is cleaned first, so "logs/./a.log" and "logs/a.log" share
// a Writer. Control goroutine.
func (fs *Files) Add(path string) *Writer {
	key := path
	if path != Stdout && path != Stderr {
		key = filepath.Clean(path)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if w, ok := fs.m[key]; ok {
		return w
	}
	w := NewWriter(key, fs.opts)
	fs.m[key] = w
	fs.list = append(fs.list, w)
	return w
}

// Start opens every file added and not yet started (a hot reload adds
// files to a running set); it stops at the first that fails and returns
// its error (Close still closes the ones opened). Control goroutine.
func (fs *Files) Start() error {
	for _, w := range fs.writers() {
		w.mu.Lock()
		started := w.started
		w.mu.Unlock()
		if started {
			continue
		}
		if err := w.Start(); err != nil {
			return err
		}
	}
	return nil
}

// Reopen reopens every started file (SIGUSR1, after logrotate renamed
// them) and returns every failure joined. Control goroutine.
func (fs *Files) Reopen(ctx context.Context) error {
	var errs []error
	for _, w := range fs.writers() {
		if err := w.Reopen(ctx); err != nil && !errors.Is(err, ErrNotStarted) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close writes what is queued and closes every file. Control goroutine.
func (fs *Files) Close(ctx context.Context) error {
	var errs []error
	for _, w := range fs.writers() {
		if err := w.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Stats returns each file's counters, in opening order. Any goroutine.
func (fs *Files) Stats() []Stats {
	ws := fs.writers()
	out := make([]Stats, len(ws))
	for i, w := range ws {
		out[i] = w.Stats()
	}
	return out
}

// writers returns the open Writers. Any goroutine.
func (fs *Files) writers() []*Writer {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]*Writer(nil), fs.list...)
}
