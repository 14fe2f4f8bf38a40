package conformance

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/app"
	"github.com/ferry-proxy/ferry/internal/apptest"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Limits the configuration sets, which some cases probe.
const (
	maxBodyBytes      = 64 << 10
	maxPipelinedBytes = 4 << 10
	viaName           = "ferry-conformance"
	// ioTimeout bounds every client read: a case that hangs fails.
	ioTimeout = 2 * time.Second
)

// configJSON is a MOSN v2 configuration: one listener, one virtual host
// "app.test" routed to the recording upstream (no catch-all domain, so an
// unknown authority reaches nothing), and tight limits for the limit cases.
const configJSON = `{
  "servers": [{
    "default_log_level": "ERROR",
    "routers": [{
      "router_config_name": "conf",
      "virtual_hosts": [{
        "name": "app",
        "domains": ["app.test"],
        "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "rec", "timeout": "2s"}}]
      }]
    }],
    "listeners": [{
      "name": "conf",
      "address": "127.0.0.1:0",
      "bind_port": true,
      "filter_chains": [{"filters": [{"type": "proxy", "config": {
        "downstream_protocol": "Http1", "upstream_protocol": "Http1", "router_config_name": "conf"}}]}]
    }]
  }],
  "cluster_manager": {"clusters": [{
    "name": "rec", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "connect_timeout": "1s",
    "hosts": [{"address": "%UPSTREAM%"}]
  }]},
  "ferry": {
    "event_loops": 2,
    "scheduler": {"policy": "auto", "workers": 16},
    "http1": {"max_request_body_bytes": %MAXBODY%, "max_pipelined_bytes": %MAXPIPE%},
    "timeouts": {"lingering_close": "1s"},
    "proxy": {"via": "%VIA%"}
  }
}`

// env is the ferry and the upstream shared by every case.
type env struct {
	app  *app.App
	addr string
	rec  *recorder
}

// startEnv starts the recording upstream and ferry in front of it; both
// stop when the test ends.
func startEnv(t *testing.T) *env {
	t.Helper()
	rec := newRecorder(t)
	js := strings.NewReplacer("%UPSTREAM%", rec.srv.Addr(), "%MAXBODY%", fmt.Sprint(maxBodyBytes),
		"%MAXPIPE%", fmt.Sprint(maxPipelinedBytes), "%VIA%", viaName).Replace(configJSON)
	a := apptest.Start(t, []byte(js))
	return &env{app: a, addr: a.Addrs()[0].String(), rec: rec}
}

// quiesce waits until ferry has no request in flight, so that nothing of
// one case reaches the upstream during the next.
func (e *env) quiesce(t testing.TB) {
	testutil.WaitFor(t, 3*time.Second, "no request in flight", func() bool {
		return e.app.Server().Stats().Active() == 0
	})
}

// response is one response read by the client.
type response struct {
	status int
	header http.Header
	te     []string // Transfer-Encoding as the client parsed it
	close  bool     // the response announced the end of the connection
	body   string
	// cut is set when the body could not be read whole: the message was
	// presented as complete-able but the connection ended inside it.
	cut error
}

// exchange is what a client saw on one connection.
type exchange struct {
	interim []int       // 1xx statuses, in order
	resps   []*response // final responses, in order
	raw     bytes.Buffer
}

// clientConn is a raw client connection that records what it reads.
type clientConn struct {
	c  net.Conn
	br *bufio.Reader
	ex *exchange
}

func (e *env) dial(t testing.TB) *clientConn {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatalf("dial ferry: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ex := &exchange{}
	return &clientConn{c: c, br: bufio.NewReader(io.TeeReader(c, &ex.raw)), ex: ex}
}

func (cc *clientConn) write(s string) error {
	_ = cc.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := io.WriteString(cc.c, s)
	return err
}

// readResponse reads responses until a final one, collecting 1xx heads;
// then is written after the first 1xx (an Expect: 100-continue body).
func (cc *clientConn) readResponse(method, then string) (*response, error) {
	for {
		_ = cc.c.SetReadDeadline(time.Now().Add(ioTimeout))
		resp, err := http.ReadResponse(cc.br, &http.Request{Method: method})
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 200 {
			cc.ex.interim = append(cc.ex.interim, resp.StatusCode)
			if then != "" && len(cc.ex.interim) == 1 {
				if err := cc.write(then); err != nil {
					return nil, err
				}
			}
			continue
		}
		r := &response{status: resp.StatusCode, header: resp.Header, te: resp.TransferEncoding, close: resp.Close}
		b, err := io.ReadAll(resp.Body)
		r.body, r.cut = string(b), err
		_ = resp.Body.Close()
		cc.ex.resps = append(cc.ex.resps, r)
		return r, nil
	}
}

// waitEOF reports whether the connection ends (EOF or reset) without
// another byte before the timeout.
func (cc *clientConn) waitEOF() (bool, string) {
	_ = cc.c.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := cc.br.ReadByte()
	switch {
	case err == nil:
		rest, _ := cc.br.Peek(cc.br.Buffered())
		return false, fmt.Sprintf("unexpected bytes %q", append([]byte{b}, rest...))
	case errors.Is(err, io.EOF), testutil.IsReset(err):
		return true, ""
	default:
		return false, err.Error()
	}
}
