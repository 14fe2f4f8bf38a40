package proxy_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

const bigSize = 64 << 20

// patternReader yields n deterministic pseudo-random bytes without holding
// them in memory.
type patternReader struct {
	rng *rand.ChaCha8
	n   int64
}

func newPattern(n int64) *patternReader {
	return &patternReader{rng: rand.NewChaCha8([32]byte{7}), n: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	_, _ = p.rng.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

func patternSum(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, newPattern(n))
	return hex.EncodeToString(h.Sum(nil))
}

// slowReader reads at most rate bytes per millisecond: a slow peer.
type slowReader struct {
	r    io.Reader
	rate int
}

func (s *slowReader) Read(b []byte) (int, error) {
	if len(b) > s.rate {
		b = b[:s.rate]
	}
	time.Sleep(time.Millisecond) // simulates the slow peer, not a wait for state
	return s.r.Read(b)
}

// heapWatch samples the heap in use until stopped and reports the peak
// above the starting point.
type heapWatch struct {
	base, peak atomic.Uint64
	stop       chan struct{}
	done       chan struct{}
}

func watchHeap() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w := &heapWatch{stop: make(chan struct{}), done: make(chan struct{})}
	w.base.Store(ms.HeapInuse)
	w.peak.Store(ms.HeapInuse)
	go func() {
		defer close(w.done)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tk.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > w.peak.Load() {
					w.peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	return w
}

func (w *heapWatch) growth() uint64 {
	close(w.stop)
	<-w.done
	return w.peak.Load() - w.base.Load()
}

// hashUpstream answers with the sha256 and length of the request body, and
// GET /big/N with N pattern bytes. throttle slows its reading.
func hashUpstream(t *testing.T, throttle bool) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			n, _ := strconv.ParseInt(r.URL.Path[len("/big/"):], 10, 64)
			if r.URL.Query().Get("chunked") == "" {
				w.Header().Set("Content-Length", fmt.Sprint(n))
			}
			_, _ = io.Copy(w, newPattern(n))
			return
		}
		var body io.Reader = r.Body
		if throttle {
			body = &slowReader{r: r.Body, rate: 128 << 10}
		}
		h := sha256.New()
		n, err := io.Copy(h, body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	}))
	t.Cleanup(up.Close)
	return up
}

func TestProxyLargeBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 4 × 64 MiB")
	}
	want := patternSum(bigSize)
	tests := []struct {
		name     string
		throttle bool
		chunked  bool
		upload   bool
	}{
		{name: "upload", upload: true},
		{name: "upload chunked", upload: true, chunked: true},
		{name: "upload to throttled upstream", upload: true, throttle: true},
		{name: "download", upload: false},
		{name: "download chunked to slow client", upload: false, chunked: true, throttle: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := hashUpstream(t, tc.throttle && tc.upload)
			h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
				s.opts.Spill.MemLimit = 256 << 10
				s.opts.Spill.Dir = t.TempDir()
				s.opts.RouteTimeout = time.Minute
			})
			hw := watchHeap()
			if tc.upload {
				uploadAndCheck(t, h, tc.chunked, want)
			} else {
				downloadAndCheck(t, h, tc.chunked, tc.throttle, want)
			}
			if g := hw.growth(); g > 24<<20 {
				t.Fatalf("heap grew by %d MiB moving 64 MiB: memory is not bounded", g>>20)
			}
		})
	}
}

func uploadAndCheck(t *testing.T, h *harness, chunked bool, want string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://ferry.test/up", newPattern(bigSize))
	if err != nil {
		t.Fatal(err)
	}
	if !chunked {
		req.ContentLength = bigSize
	}
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	body := readAll(t, resp)
	if body != fmt.Sprintf("%d %s", bigSize, want) {
		t.Fatalf("upstream got %q, want %d %s", body, bigSize, want)
	}
}

func downloadAndCheck(t *testing.T, h *harness, chunked, slow bool, want string) {
	t.Helper()
	c := h.dial()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	q := ""
	if chunked {
		q = "?chunked=1"
	}
	if _, err := fmt.Fprintf(c, "GET /big/%d%s HTTP/1.1\r\nHost: a\r\n\r\n", bigSize, q); err != nil {
		t.Fatal(err)
	}
	var r io.Reader = c
	if slow {
		r = &slowReader{r: c, rate: 256 << 10}
	}
	resp, err := http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := sha256.New()
	n, err := io.Copy(hs, resp.Body)
	if err != nil {
		t.Fatalf("download after %d bytes: %v", n, err)
	}
	if got := hex.EncodeToString(hs.Sum(nil)); n != bigSize || got != want {
		t.Fatalf("downloaded %d bytes %s, want %d %s", n, got, bigSize, want)
	}
	_ = net.Conn(nil)
}
