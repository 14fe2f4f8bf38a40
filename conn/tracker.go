package conn

import (
	"errors"
	"sync/atomic"
)

// ErrBudget is returned when opening one more socket would pass the
// connection budget.
var ErrBudget = errors.New("conn: connection budget exhausted")

// Tracker counts ferry's open sockets against a budget kept below the
// process fd limit, and hands out connection IDs. Any goroutine.
type Tracker struct {
	max  int64
	open atomic.Int64
	ids  atomic.Uint64
	// Downstream counts only accepted connections, for stats and drain.
	Downstream atomic.Int64
	// Refused counts accepted sockets closed at once because of the budget.
	Refused atomic.Uint64
}

// NewTracker returns a tracker allowing limit open sockets (0 = no limit).
func NewTracker(limit int64) *Tracker { return &Tracker{max: limit} }

// Acquire reserves one socket. It fails with ErrBudget at the limit.
// Reserve keeps that many sockets free for this caller's kind: downstream
// accepts reserve headroom for the upstream sockets their requests need.
// Any goroutine.
func (t *Tracker) Acquire(reserve int64) error {
	n := t.open.Add(1)
	if t.max > 0 && n > t.max-reserve {
		t.open.Add(-1)
		return ErrBudget
	}
	return nil
}

// Release returns a socket reserved by Acquire. Any goroutine.
func (t *Tracker) Release() { t.open.Add(-1) }

// Open is the number of sockets reserved. Any goroutine.
func (t *Tracker) Open() int64 { return t.open.Load() }

// Max is the budget (0 = none). Any goroutine.
func (t *Tracker) Max() int64 { return t.max }

// NextID returns a new connection ID. Any goroutine.
func (t *Tracker) NextID() uint64 { return t.ids.Add(1) }
