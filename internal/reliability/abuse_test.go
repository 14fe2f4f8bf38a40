package reliability

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// fastLatencies runs clients keep-alive clients, each doing n small GETs
// one after another, and returns every request's latency.
func fastLatencies(t *testing.T, f *ferry, clients, n int) []time.Duration {
	t.Helper()
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		cl := f.dial(t)
		wg.Go(func() {
			ds := make([]time.Duration, 0, n)
			for i := range n {
				start := time.Now()
				_ = cl.c.SetWriteDeadline(start.Add(ioTimeout))
				if _, err := io.WriteString(cl.c, get("/fast")); err != nil {
					errs <- err
					return
				}
				r, err := cl.read("GET")
				if err != nil || r.status != 200 {
					errs <- fmt.Errorf("fast request %d: %v %v", i, r, err)
					return
				}
				ds = append(ds, time.Since(start))
			}
			mu.Lock()
			all = append(all, ds...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return all
}

// TestSlowReadersAreIsolated: eight clients ask for 8 MiB each and read it
// at a trickle. ferry absorbs the responses into bounded spill queues (the
// live heap grows by far less than the 64 MiB in flight), fast clients'
// p99 latency stays within a generous ratio of its value without the slow
// readers, and when the slow readers speed up they get every byte intact.
func TestSlowReadersAreIsolated(t *testing.T) {
	const nSlow, size = 8, 8 << 20
	up := newUpstream(t)
	f := startFerry(t, knobs{upstream: up.addr(), highWatermark: 256 << 10, lowWM: 64 << 10, spillMem: 256 << 10})
	fastLatencies(t, f, 2, 50) // warm up: upstream connections, free lists
	base := fastLatencies(t, f, 4, 150)
	heap0 := heapInuse()
	peak := watchPeak()
	stalls0 := f.stat("downstream_cx_write_stalls")

	slow := make([]*client, nSlow)
	for i := range slow {
		slow[i] = f.dial(t)
		// A small receive buffer keeps the kernel from absorbing what
		// ferry must hold.
		_ = slow[i].c.(*net.TCPConn).SetReadBuffer(16 << 10)
		slow[i].write(t, fmt.Sprintf("GET /big/%d HTTP/1.1\r\nHost: rel.test\r\n\r\n", size))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hashes := make([]string, nSlow)
	errs := make([]error, nSlow)
	for i, cl := range slow {
		wg.Go(func() { hashes[i], errs[i] = trickle(cl, stop) })
	}
	testutil.WaitFor(t, 20*time.Second, "the upstream to write every big response", func() bool {
		return up.bigDone.Load() == nSlow
	})
	live := heapInuse()
	withSlow := fastLatencies(t, f, 4, 150)
	close(stop) // the slow readers now read the rest at full speed
	wg.Wait()
	peakHeap := peak.end()

	want := patternSum(size, size)
	for i := range slow {
		if errs[i] != nil || hashes[i] != want {
			t.Errorf("slow reader %d: sha256 %s, err %v; want %s", i, hashes[i], errs[i], want)
		}
	}
	p0, p1 := percentile(base, 0.99), percentile(withSlow, 0.99)
	t.Logf("fast p99 %v alone, %v beside %d slow readers (ratio %.1f); heap in use +%d KiB live, +%d KiB peak, with %d MiB in flight",
		p0, p1, nSlow, float64(p1)/float64(p0), (int64(live)-int64(heap0))>>10, (int64(peakHeap)-int64(heap0))>>10, nSlow*size>>20)
	if g := int64(live) - int64(heap0); g > 16<<20 {
		t.Errorf("live heap grew by %d MiB holding %d slow responses: not bounded by the spill queues", g>>20, nSlow)
	}
	if g := int64(peakHeap) - int64(heap0); g > nSlow*size/2 {
		t.Errorf("peak heap grew by %d MiB with %d MiB in flight", g>>20, nSlow*size>>20)
	}
	if p1 > 10*p0 {
		t.Errorf("fast clients' p99 went from %v to %v beside slow readers (more than 10×)", p0, p1)
	}
	f.waitStat(t, "downstream_cx_write_stalls", stalls0+1)
	f.quiesce(t)
}

// trickle reads one response: 4 KiB every 20 ms until stop closes, then
// the rest at full speed. It returns the body's sha256.
func trickle(cl *client, stop <-chan struct{}) (string, error) {
	_ = cl.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	r, err := http.ReadResponse(cl.br, nil)
	if err != nil {
		return "", err
	}
	defer func() { _ = r.Body.Close() }() // read to its end below
	h := sha256.New()
	buf := make([]byte, 4<<10)
	for {
		select {
		case <-stop:
			if _, err := io.Copy(h, r.Body); err != nil {
				return "", err
			}
			return hex.EncodeToString(h.Sum(nil)), nil
		case <-time.After(20 * time.Millisecond): // the slow reader's pace
		}
		n, err := io.ReadFull(r.Body, buf)
		_, _ = h.Write(buf[:n]) // hash writes never fail
		if err != nil {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
	}
}

// TestConnectionFlood: with max_connections 50, 200 idle connections: the
// 150 past the budget are closed at once, the first 50 are served, and
// once they close, 50 new connections are served again.
func TestConnectionFlood(t *testing.T) {
	const budget, flood = 50, 200
	up := newUpstream(t)
	f := startFerry(t, knobs{upstream: up.addr(), maxConns: budget})
	conns := make([]*client, flood)
	for i := range conns {
		conns[i] = f.dial(t)
	}
	// A refused connection ends at once; a kept one stays silent.
	closedAt := make([]time.Duration, flood)
	var wg sync.WaitGroup
	start := time.Now()
	for i, cl := range conns {
		wg.Go(func() {
			if cl.closed(time.Second) == nil {
				closedAt[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	var alive []*client
	var slowest time.Duration
	for i, cl := range conns {
		if closedAt[i] == 0 {
			alive = append(alive, cl)
		} else {
			slowest = max(slowest, closedAt[i])
		}
	}
	if len(alive) != budget {
		t.Fatalf("%d of %d connections kept open, want max_connections = %d", len(alive), flood, budget)
	}
	t.Logf("%d refused connections closed within %v", flood-budget, slowest)
	serveAll(t, alive)
	for _, cl := range alive {
		_ = cl.c.Close()
	}
	f.quiesce(t)
	// The budget frees as ferry sees the closes: each new connection may
	// need a retry, never more than the wait allows.
	fresh := make([]*client, 0, budget)
	for i := range budget {
		testutil.WaitFor(t, 3*time.Second, fmt.Sprintf("new connection %d of %d to be served after the first %d closed", i+1, budget, budget), func() bool {
			cl := f.dial(t)
			_ = cl.c.SetWriteDeadline(time.Now().Add(ioTimeout))
			if _, err := io.WriteString(cl.c, get("/again")); err != nil {
				_ = cl.c.Close()
				return false
			}
			r, err := cl.read("GET")
			if err != nil || r.status != 200 {
				_ = cl.c.Close()
				return false
			}
			fresh = append(fresh, cl)
			return true
		})
	}
	serveAll(t, fresh)
}

// serveAll sends one GET on every connection at once and checks each 200.
func serveAll(t *testing.T, cls []*client) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(cls))
	for i, cl := range cls {
		wg.Go(func() {
			_ = cl.c.SetWriteDeadline(time.Now().Add(ioTimeout))
			if _, err := io.WriteString(cl.c, get("/kept")); err != nil {
				errs[i] = err
				return
			}
			r, err := cl.read("GET")
			if err == nil && (r.status != 200 || r.body != "GET /kept") {
				err = fmt.Errorf("got %d %q", r.status, r.body)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("connection %d of %d within the budget: %v", i+1, len(cls), err)
		}
	}
}
