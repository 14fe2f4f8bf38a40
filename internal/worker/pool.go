package worker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/panjf2000/ants/v2"
)

// ErrBusy is returned by Submit when every worker is busy and the queue is
// full. The caller sheds the load (the proxy answers 503).
var ErrBusy = errors.New("worker: pool saturated")

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("worker: pool closed")

// Options configures a Pool.
type Options struct {
	// Size is the most tasks that run at once. Zero means 128 × GOMAXPROCS.
	Size int
	// Queue is the most tasks that wait for a worker once Size run. Zero
	// means 1024; a negative value means no queue (reject at once).
	Queue int
	// OnPanic, when set, is called with the recovered value of a task that
	// panicked. It runs on the worker goroutine.
	OnPanic func(v any)
}

// Stats is a point-in-time view of a Pool.
type Stats struct {
	Running, Queued  int
	Submitted, Busy  uint64
	Panics, Finished uint64
}

// Pool is a bounded worker pool with a bounded queue.
type Pool struct {
	ants    *ants.Pool
	queue   chan func()
	onPanic func(any)
	closed  atomic.Bool

	queued    atomic.Int64
	submitted atomic.Uint64
	busy      atomic.Uint64
	panics    atomic.Uint64
	finished  atomic.Uint64
	done      chan struct{}
	drained   chan struct{}
}

// New starts a pool.
func New(opts Options) (*Pool, error) {
	size := opts.Size
	if size <= 0 {
		size = 128 * runtimeProcs()
	}
	q := opts.Queue
	if q == 0 {
		q = 1024
	}
	if q < 0 {
		q = 0
	}
	p := &Pool{onPanic: opts.OnPanic, queue: make(chan func(), q), done: make(chan struct{}), drained: make(chan struct{})}
	ap, err := ants.NewPool(size,
		ants.WithNonblocking(true),
		ants.WithExpiryDuration(10*time.Second),
		ants.WithPanicHandler(p.panicked),
		ants.WithLogger(discardLogger{}))
	if err != nil {
		return nil, fmt.Errorf("worker: new pool of %d: %w", size, err)
	}
	p.ants = ap
	go p.dispatch()
	return p, nil
}

// Submit runs task on a worker, or queues it when all workers are busy.
// It never blocks. Any goroutine.
func (p *Pool) Submit(task func()) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.submitted.Add(1)
	if len(p.queue) == 0 {
		err := p.ants.Submit(p.wrap(task))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ants.ErrPoolOverload) {
			return ErrClosed
		}
	}
	// queued counts every task between Submit and a worker, including the
	// one the dispatcher holds while it waits for a worker, so the bound is
	// exactly Queue (the channel alone would admit one more).
	if p.queued.Add(1) > int64(cap(p.queue)) {
		p.queued.Add(-1)
		p.busy.Add(1)
		return ErrBusy
	}
	p.queue <- task // never blocks: at most cap(p.queue) tasks are queued
	return nil
}

// dispatch moves queued tasks to workers as they free up. It is the one
// goroutine the queue costs; it parks while the queue is empty.
func (p *Pool) dispatch() {
	defer close(p.drained)
	for {
		select {
		case <-p.done:
			return
		case task := <-p.queue:
			p.runQueued(task)
			p.queued.Add(-1)
		}
	}
}

// runQueued hands one queued task to ants, waiting with a short back-off
// while every worker is busy.
func (p *Pool) runQueued(task func()) {
	wrapped := p.wrap(task)
	backoff := 50 * time.Microsecond
	for {
		err := p.ants.Submit(wrapped)
		if err == nil {
			return
		}
		if !errors.Is(err, ants.ErrPoolOverload) {
			return // closed: the task is dropped with the pool
		}
		select {
		case <-p.done:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Millisecond)
	}
}

func (p *Pool) wrap(task func()) func() {
	return func() {
		defer p.finished.Add(1)
		task()
	}
}

func (p *Pool) panicked(v any) {
	p.panics.Add(1)
	p.finished.Add(1)
	if p.onPanic != nil {
		p.onPanic(v)
	}
}

// Stats returns counters. Any goroutine.
func (p *Pool) Stats() Stats {
	return Stats{
		Running:   p.ants.Running(),
		Queued:    int(p.queued.Load()),
		Submitted: p.submitted.Load(),
		Busy:      p.busy.Load(),
		Panics:    p.panics.Load(),
		Finished:  p.finished.Load(),
	}
}

// Cap is the most tasks that run at once (Options.Size). Any goroutine.
func (p *Pool) Cap() int { return p.ants.Cap() }

// Tune changes the most tasks that run at once (a hot reload of
// ferry.scheduler.workers; ants.Pool.Tune): lowered, running tasks finish
// and no new one starts above the new size. Any goroutine.
func (p *Pool) Tune(size int) { p.ants.Tune(size) }

// Close stops accepting tasks and waits, up to ctx, for running ones.
// Queued tasks that have not started are dropped. Any goroutine.
func (p *Pool) Close(ctx context.Context) error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.done)
	<-p.drained
	if err := p.ants.ReleaseContext(ctx); err != nil {
		return fmt.Errorf("worker: close: %w", err)
	}
	return nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
