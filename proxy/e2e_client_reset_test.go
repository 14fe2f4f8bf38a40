package proxy_test

// Clients that reset their connection in the middle of an exchange.

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestClientResetsDuringTheExchange: clients that send a request and reset
// at once, while ferry replies or streams the response, must never take
// the process down or leak a request.
func TestClientResetsDuringTheExchange(t *testing.T) {
	body := strings.Repeat("z", 256<<10)
	up := testutil.NewHeadServer(t, testutil.Reply(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)))
	h := startProxy(t, []string{up.Addr()}, nil)
	for i := range 200 {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		path := "/ok"
		if i%2 == 0 {
			path = "/bad path" // a 400 that ferry writes to a client already gone
		}
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path); err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	}
	testutil.WaitFor(t, 10*time.Second, "every request finished", func() bool { return h.srv.Stats().Active() == 0 })
	code, body := h.get(h.client(), "/after")
	if code != 200 || len(body) != 256<<10 {
		t.Fatalf("ferry unhealthy after resets: %d, %d bytes", code, len(body))
	}
}
