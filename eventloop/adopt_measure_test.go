package eventloop

import (
	"bufio"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestMeasureAcceptQueueAtStop measures what happens to connections that
// arrive while ferry stops accepting, under a storm of short connections
// (8 clients: connect, one echo, close). It asserts nothing about the
// counts of a plain stop, which depend on timing; it is a measurement:
//
//	FERRY_MEASURE=1 go test -run TestMeasureAcceptQueueAtStop -v -count=1 ./eventloop/
//
// Plain stop: the kernel refuses connections after the close, and resets
// those that finished their handshake in the accept queue since the loop's
// last accept. Handover: a second engine adopts the socket first; nothing
// is refused or reset.
func TestMeasureAcceptQueueAtStop(t *testing.T) {
	if os.Getenv("FERRY_MEASURE") == "" {
		t.Skip("a measurement: FERRY_MEASURE=1 runs it")
	}
	for _, handover := range []bool{false, true} {
		name := "plain stop"
		if handover {
			name = "handover"
		}
		t.Run(name, func(t *testing.T) {
			l := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: &marks{}}}}
			e := runEngine(t, l, Options{Loops: 2, Tracker: conn.NewTracker(0)})
			addr := e.Addrs()[0].String()
			var ok, refused, reset atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						c, err := net.DialTimeout("tcp", addr, 5*time.Second)
						if err != nil {
							if errors.Is(err, syscall.ECONNREFUSED) {
								refused.Add(1)
							}
							continue
						}
						_ = c.SetDeadline(time.Now().Add(5 * time.Second))
						_, err = c.Write([]byte("echo x\n"))
						if err == nil {
							_, err = bufio.NewReader(c).ReadString('\n')
						}
						if err != nil {
							reset.Add(1)
						} else {
							ok.Add(1)
						}
						_ = c.Close()
					}
				})
			}
			testutil.WaitFor(t, 30*time.Second, "the storm", func() bool { return ok.Load() > 2000 })
			if handover {
				fds, err := e.ListenerFiles()
				if err != nil {
					t.Fatal(err)
				}
				l2 := &Listener{Name: "t", Address: "127.0.0.1:0", Filters: []conn.FilterFactory{cmdFactory{marks: &marks{}}}}
				runEngine(t, l2, Options{Loops: 2, Tracker: conn.NewTracker(0), Inherit: fds})
				closeAll(fds)
			}
			before := ok.Load()
			if _, err := e.StopAccepting(); err != nil {
				t.Fatal(err)
			}
			if handover {
				testutil.WaitFor(t, 30*time.Second, "the storm after", func() bool { return ok.Load() > before+2000 })
			} else {
				testutil.WaitFor(t, 30*time.Second, "refusals", func() bool { return refused.Load() > 100 })
			}
			close(stop)
			wg.Wait()
			t.Logf("%s: %d answered, %d refused, %d reset after connecting", name, ok.Load(), refused.Load(), reset.Load())
		})
	}
}
