package conn

import "sync/atomic"

type atomicInt struct{ v atomic.Int64 }

func (a *atomicInt) load() int64   { return a.v.Load() }
func (a *atomicInt) store(n int64) { a.v.Store(n) }
