package proxy_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/backlog"
	"github.com/ferry-proxy/ferry/internal/spill"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Bounds of one connection's in-memory backlog, as conn and spill count it
// (config/ferry.go, Buffers): the outbound queue passes the high watermark
// by at most one write, which for a response body is one read of the
// upstream (gnet's read buffer, 64 KiB, with the response head in front);
// a spill queue holds its memory part and, while it reads its file back,
// one scratch chunk.
const (
	backlogMaxWrite = 64<<10 + 1<<10
	backlogChunk    = spill.DefaultChunkSize
)

// slowReaderDial connects like a client on a real network path that reads
// nothing: a tiny receive buffer, and an MSS of 1400 so that ferry's
// kernel does not size the socket's send buffer for loopback's 64 KiB
// segments (it would absorb about 1.6 MiB of the response on its own).
func slowReaderDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// slowReadersCase is one run of TestSlowReaderBacklogIsBounded.
type slowReadersCase struct {
	name      string
	readers   int
	high, low int
	spillMem  int
	limit     int64 // process-wide budget; 0: none
	// bound is the most the budget may count at once.
	bound int64
}

// TestSlowReaderBacklogIsBounded: N clients fetch a 1 MiB response each
// and read nothing. ferry's in-memory backlog, as conn and spill count it
// in the shared backlog budget, stays within the per-connection bound
// (write high watermark + one write + spill memory + one scratch chunk per
// reader) and, with a small process-wide budget, within that budget plus
// what connections cannot refuse (one write and one scratch chunk each);
// the rest of every response waits in spill files. When the clients read,
// every byte arrives intact (sha256), and the budget counts nothing once
// the connections are gone.
func TestSlowReaderBacklogIsBounded(t *testing.T) {
	const size = 1 << 20
	perConn := func(high, spillMem int) int64 { return int64(high + backlogMaxWrite + spillMem + backlogChunk) }
	cases := []slowReadersCase{
		{name: "per connection, default buffers", readers: 8,
			high: conn.DefaultHighWatermark, low: conn.DefaultHighWatermark / 4, spillMem: spill.DefaultMemLimit,
			bound: 8 * perConn(conn.DefaultHighWatermark, spill.DefaultMemLimit)},
		{name: "process-wide budget past which every backlog spills", readers: 8,
			high: 256 << 10, low: 8 << 10, spillMem: 256 << 10, limit: 128 << 10,
			// Without the budget, 8 readers would hold about 8 × 512 KiB.
			bound: 128<<10 + 9*backlogMaxWrite + 8*backlogChunk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { slowReaders(t, tc, size) })
	}
}

func slowReaders(t *testing.T, tc slowReadersCase, size int64) {
	var written atomic.Int64
	up := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		if n, err := io.Copy(w, newPattern(size)); err == nil && n == size {
			written.Add(1)
		}
	}))
	budget := backlog.New(tc.limit)
	h := startProxy(t, []string{up[len("http://"):]}, func(s *setup) {
		s.conn = conn.Options{HighWatermark: tc.high, LowWatermark: tc.low, Budget: budget}
		s.opts.Spill = spill.Options{MemLimit: tc.spillMem, Dir: t.TempDir(), Budget: budget}
	})
	stalls0 := h.stat("downstream_cx_write_stalls")
	clients := make([]net.Conn, tc.readers)
	for i := range clients {
		clients[i] = slowReaderDial(t, h.addr)
		if _, err := fmt.Fprintf(clients[i], "GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n", i); err != nil {
			t.Fatal(err)
		}
	}
	// ferry reads every response whole from the upstream while the
	// clients read nothing: what the sockets do not hold is in ferry.
	testutil.WaitFor(t, 20*time.Second, "the upstream to write every response", func() bool {
		return written.Load() == int64(tc.readers)
	})
	testutil.WaitFor(t, 5*time.Second, "every client connection to stall", func() bool {
		return h.stat("downstream_cx_write_stalls")-stalls0 >= int64(tc.readers)
	})
	peak := budget.Peak()
	t.Logf("%d readers of %d KiB: peak in-memory backlog %d KiB (bound %d KiB), %d KiB now",
		tc.readers, size>>10, peak>>10, tc.bound>>10, budget.Used()>>10)
	if peak > tc.bound {
		t.Errorf("in-memory backlog reached %d bytes, over the bound of %d", peak, tc.bound)
	}
	if peak == 0 {
		t.Fatal("the budget counted no backlog: the slow readers were not slow")
	}

	want := patternSum(size)
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Go(func() { errs[i] = readWhole(c, size, want) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("reader %d: %v", i, err)
		}
	}
	for _, c := range clients {
		_ = c.Close()
	}
	testutil.WaitFor(t, 5*time.Second, "the budget to count nothing once the readers are gone", func() bool {
		return budget.Used() == 0
	})
}

// readWhole reads one response and checks its length and sha256.
func readWhole(c net.Conn, size int64, want string) error {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	hs := sha256.New()
	n, err := io.Copy(hs, resp.Body)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	if got := hex.EncodeToString(hs.Sum(nil)); n != size || got != want {
		return fmt.Errorf("got %d bytes with sha256 %s, want %d with %s", n, got, size, want)
	}
	return nil
}
