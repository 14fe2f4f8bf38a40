package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// buildCfg parses and validates a config with one route table "r", one
// listener (listener holds its extra fields) and one cluster "c" on up.
func buildCfg(t *testing.T, routes, listener, up string, allow bool) *config.Config {
	t.Helper()
	js := fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[%s]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0"%s,
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}]}]},
		"ferry":{"compat":{"allow_unimplemented":%v}}}`, routes, listener, up, allow)
	cfg := mustConfig(t, js)
	return cfg
}

// echoUpstream answers with the path it saw.
func echoUpstream(t *testing.T) string {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream %s", r.URL.Path)
	}))
	t.Cleanup(up.Close)
	return up.Listener.Addr().String()
}

// get fetches path from a and returns status and body.
func get(t *testing.T, a *App, path string) (int, string) {
	t.Helper()
	return fetch(t, "http://"+a.Addrs()[0].String()+path)
}

// TestConnectionIdleTimeoutPerListener: a listener's
// connection_idle_timeout closes an idle keep-alive connection, instead of
// the 75 s default.
func TestConnectionIdleTimeoutPerListener(t *testing.T) {
	cfg := buildCfg(t, `{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"ok"}}`,
		`,"connection_idle_timeout":"200ms"`, "127.0.0.1:9", false)
	a := startApp(t, cfg)
	c := testutil.DialTCP(t, a.Addrs()[0].String(), 10*time.Second)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The default idle timeout is 75 s; the listener's 200 ms must close the
	// connection well within the 10 s deadline.
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("read after idle: %v %v, want EOF from ferry closing the idle connection", n, err)
	}
}

// TestRouteMatchesAsMOSN: with several path conditions the path wins, then
// the prefix (MOSN's order); an empty match matches every path.
func TestRouteMatchesAsMOSN(t *testing.T) {
	cfg := buildCfg(t, `{"match":{"path":"/exact","prefix":"/p"},"direct_response":{"status":200,"body":"path wins"}},
		{"match":{"prefix":"/p","regex":"/nomatch"},"direct_response":{"status":200,"body":"prefix wins"}},
		{"match":{},"route":{"cluster_name":"c"}}`, "", echoUpstream(t), false)
	if len(cfg.Warnings()) != 2 {
		t.Fatalf("warnings %q, want one per route with several path conditions", cfg.Warnings())
	}
	a := startApp(t, cfg)
	for path, want := range map[string]string{
		"/exact": "path wins", "/p/x": "prefix wins", "/nomatch": "upstream /nomatch", "/other/x": "upstream /other/x",
	} {
		if code, body := get(t, a, path); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
		}
	}
}

// TestRouterProblemsNameTheirConfigPath: what the router refuses (and
// config.Validate does not check) comes back at the route's config path.
func TestRouterProblemsNameTheirConfigPath(t *testing.T) {
	cfg := buildCfg(t, `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}},{"match":{"prefix":"api"},"route":{"cluster_name":"c"}}`,
		"", "127.0.0.1:9", false)
	_, err := New(cfg, Options{Logger: quietLogger()})
	const want = `servers[0].routers[0].virtual_hosts[0].routers[1]: prefix "api" must start with '/'`
	if err == nil || err.Error() != want {
		t.Fatalf("New: %v, want %q", err, want)
	}
}

// TestUnknownFilterTypes: a stream or network filter type that nobody
// registered is refused at its path; allowed, ferry runs without it and
// warns.
func TestUnknownFilterTypes(t *testing.T) {
	routes := `{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"ok"}}`
	listener := `,"stream_filters":[{"type":"fault","config":{}}]`
	_, err := New(buildCfg(t, routes, listener, "127.0.0.1:9", false), Options{Logger: quietLogger()})
	const want = `servers[0].listeners[0].stream_filters[0].type: not implemented: requests would pass without the "fault" filter`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("New: %v, want %q", err, want)
	}
	a := startApp(t, buildCfg(t, routes, listener, "127.0.0.1:9", true))
	if w := a.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "servers[0].listeners[0].stream_filters[0].type: not implemented") {
		t.Fatalf("warnings %q", w)
	}
	if code, body := get(t, a, "/"); code != 200 || body != "ok" {
		t.Fatalf("GET / = %d %q", code, body)
	}
}

// TestUnboundListenerIsNotOpened: with allow_unimplemented, a listener with
// bind_port false is not opened (in MOSN it only receives handed-off
// connections, which ferry cannot do); the others serve.
func TestUnboundListenerIsNotOpened(t *testing.T) {
	js := `{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"ok"}}]}]}],
		"listeners":[
		 {"name":"virtual","address":"127.0.0.1:1","bind_port":false,"filter_chains":[{"filters":[{"type":"proxy","config":{"router_config_name":"r"}}]}]},
		 {"name":"real","address":"127.0.0.1:0","filter_chains":[{"filters":[{"type":"proxy","config":{"router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[]},"ferry":{"compat":{"allow_unimplemented":true}}}`
	cfg := mustConfig(t, js)
	a := startApp(t, cfg)
	if len(a.Addrs()) != 1 {
		t.Fatalf("listening on %v, want only the bound listener", a.Addrs())
	}
	if code, body := get(t, a, "/"); code != 200 || body != "ok" {
		t.Fatalf("GET / = %d %q", code, body)
	}
	cfg.Ferry.Compat.AllowUnimplemented = false
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "servers[0].listeners[0].bind_port: not implemented") {
		t.Fatalf("validate without allow: %v", err)
	}
}

// TestLogSummaryIsStructured: the start-up summary is one record whose
// fields a JSON log keeps: listeners with their bound address, clusters,
// loops, scheduler, limits.
func TestLogSummaryIsStructured(t *testing.T) {
	var buf bytes.Buffer
	cfg := buildCfg(t, `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`, "", "127.0.0.1:9", false)
	a, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	a.LogSummary()
	var rec struct {
		Msg       string `json:"msg"`
		Listeners map[string]struct {
			Name, Address, Protocol string
		} `json:"listeners"`
		Clusters map[string]struct {
			LB    string
			Hosts int
		} `json:"clusters"`
		Loops     int                     `json:"loops"`
		Scheduler struct{ Policy string } `json:"scheduler"`
		Limits    map[string]int64        `json:"limits"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v in %s", err, buf.String())
	}
	l := rec.Listeners["0"]
	if rec.Msg != "ferry started" || l.Name != "l" || l.Address != a.Addrs()[0].String() || l.Protocol != "Http1" ||
		rec.Clusters["c"].Hosts != 1 || rec.Clusters["c"].LB != "LB_ROUNDROBIN" || rec.Loops < 1 ||
		rec.Scheduler.Policy == "" || rec.Limits["max_header_bytes"] == 0 {
		t.Fatalf("summary %+v from %s", rec, buf.String())
	}
}

// TestEventLoopLimitAgrees: validate refuses as many event loops as the
// engine does, naming the path.
func TestEventLoopLimitAgrees(t *testing.T) {
	if config.MaxEventLoops != eventloop.MaxLoops {
		t.Fatalf("config.MaxEventLoops %d, eventloop.MaxLoops %d", config.MaxEventLoops, eventloop.MaxLoops)
	}
	cfg := buildCfg(t, `{"match":{"prefix":"/"},"direct_response":{"status":200,"body":"ok"}}`, "", "127.0.0.1:9", false)
	cfg.Ferry.EventLoops = eventloop.MaxLoops + 1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ferry.event_loops: 257 is more than the 256") {
		t.Fatalf("validate: %v", err)
	}
}
