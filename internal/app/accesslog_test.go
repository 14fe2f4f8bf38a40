package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/accesslog"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// withAccessLogs returns cfg with logs as its first listener's
// access_logs, validated.
func withAccessLogs(t *testing.T, cfg *config.Config, logs ...config.AccessLog) *config.Config {
	t.Helper()
	cfg.Servers[0].Listeners[0].AccessLogs = logs
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAccessLogBuildRefusals: what config cannot judge alone (the
// format's variables, the file) is refused by the build, which validate
// runs too, each problem at its path.
func TestAccessLogBuildRefusals(t *testing.T) {
	dir := t.TempDir()
	cfg := withAccessLogs(t, routeTo(t, "c", "127.0.0.1:9"),
		config.AccessLog{Path: filepath.Join(dir, "ok.log"), Format: "%start_time% %upstream_clustr%"},
		config.AccessLog{Path: filepath.Join(dir, "missing", "a.log")},
		config.AccessLog{Path: "stdout", Format: "%request_header_a b%"},
		config.AccessLog{Path: dir},
		config.AccessLog{Path: "stderr", Format: "%duration"},
	)
	_, err := New(cfg, Options{Logger: quietLogger()})
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("New = %v, want a validation error", err)
	}
	want := []string{
		"servers[0].listeners[0].access_logs[0].log_format: unknown variable %upstream_clustr%; known: ",
		"servers[0].listeners[0].access_logs[1].log_path: directory of " + filepath.Join(dir, "missing", "a.log"),
		`servers[0].listeners[0].access_logs[2].log_format: variable %request_header_a b%: "a b" is not a header name`,
		"servers[0].listeners[0].access_logs[3].log_path: " + dir + ": not a regular file",
		"servers[0].listeners[0].access_logs[4].log_format: byte 0: unclosed %variable%",
	}
	if len(ve.Errors) != len(want) {
		t.Fatalf("%d problems %v, want %d", len(ve.Errors), ve.Errors, len(want))
	}
	for i, w := range want {
		if got := ve.Errors[i].Path + ": " + ve.Errors[i].Msg; !strings.HasPrefix(got, w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, got, w)
		}
	}
	if !strings.Contains(ve.Errors[0].Msg, "upstream_cluster") || !strings.Contains(ve.Errors[0].Msg, "request_header_") {
		t.Errorf("%q does not list the known variables", ve.Errors[0].Msg)
	}
}

// TestAccessLogFiles: validate (New then Close) creates no file; start
// creates it; ReopenAccessLogs after a rename creates a new one; the
// counters name each file once however many logs share it.
func TestAccessLogFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "access.log")
	mk := func() *config.Config {
		return withAccessLogs(t, routeTo(t, "c", "127.0.0.1:9"),
			config.AccessLog{Path: p}, config.AccessLog{Path: filepath.Join(dir, ".", "access.log"), Encoding: "json"})
	}
	v, err := New(mk(), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("validate created the access log (%v)", err)
	}
	a := startApp(t, mk())
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("start did not create the access log: %v", err)
	}
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := a.ReopenAccessLogs(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("reopen did not create a new file: %v", err)
	}
	st := a.AccessLogStats()
	if len(st) != 1 || st[0].Path != p || st[0].Dropped != 0 || st[0].Errors != 0 {
		t.Fatalf("stats %+v, want one file %s", st, p)
	}
}

// TestAccessLogLineForKnownRequest sends known requests through ferry and
// checks their access log lines field by field, in text and in JSON: a
// proxied GET (the upstream echoes the address it saw, which must be the
// logged upstream_local_address), a request no route matches, and one
// whose upstream refuses the connection.
func TestAccessLogLineForKnownRequest(t *testing.T) {
	up := peerEchoUpstream(t)
	dead := testutil.ClosedAddr(t)
	dir := t.TempDir()
	textPath, jsonPath := filepath.Join(dir, "access.log"), filepath.Join(dir, "access.json")
	const format = `%start_time% %request_received_duration% %response_received_duration% %request_finished_duration%` +
		` %duration% %bytes_received% %bytes_sent% %protocol% %response_code% %response_flag%` +
		` %upstream_transport_failure_reason% %upstream_cluster% %upstream_host% %upstream_local_address%` +
		` %downstream_local_address% %downstream_remote_address% %request_method% %request_uri% %request_path%` +
		` %request_arg% %request_header_x-request-id% %response_header_x-peer%`
	js := fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/api/"},"route":{"cluster_name":"web"}},
		{"match":{"prefix":"/dead/"},"route":{"cluster_name":"dead"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0",
		"access_logs":[{"log_path":%q,"log_format":%q},{"log_path":%q,"log_format":%q,"log_encoding":"json"}],
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"web","hosts":[{"address":%q}]},{"name":"dead","hosts":[{"address":%q}]}]}}`,
		textPath, format, jsonPath, format, up, dead)
	cfg := mustConfig(t, js)
	a := startApp(t, cfg)
	ferryAddr := a.Addrs()[0].String()

	reqs := []string{
		"GET /api/users?id=7 HTTP/1.1\r\nHost: a.example\r\nX-Request-Id: r-1\r\nConnection: close\r\n\r\n",
		"GET /nowhere HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
		"GET /dead/x HTTP/1.1\r\nHost: a.example\r\nX-Request-Id: r-3\r\nConnection: close\r\n\r\n",
	}
	type sent struct {
		client        string // the client's address
		resp          []byte // every byte ferry sent
		before, after time.Time
	}
	var got []sent
	for _, r := range reqs {
		s := sent{before: time.Now()}
		c, err := net.Dial("tcp", ferryAddr)
		if err != nil {
			t.Fatal(err)
		}
		s.client = c.LocalAddr().String()
		if _, err := io.WriteString(c, r); err != nil {
			t.Fatal(err)
		}
		s.resp, err = io.ReadAll(c) // Connection: close: ferry closes after the response
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
		s.after = time.Now()
		got = append(got, s)
	}
	// The lines are queued at each request's End, before ferry closed the
	// connection; a reopen writes what is queued.
	if err := a.ReopenAccessLogs(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(readFile(t, textPath), "\n"), "\n")
	objs := strings.Split(strings.TrimSuffix(readFile(t, jsonPath), "\n"), "\n")
	if len(lines) != 3 || len(objs) != 3 {
		t.Fatalf("%d text and %d JSON lines, want 3 each:\n%s\n%s", len(lines), len(objs), readFile(t, textPath), readFile(t, jsonPath))
	}
	peer := responseHeader(t, got[0].resp, "X-Peer")
	want := []map[string]string{
		{"bytes_received": fmt.Sprint(len(reqs[0])), "bytes_sent": fmt.Sprint(len(got[0].resp)), "protocol": "Http1",
			"response_code": "200", "response_flag": "false", "upstream_transport_failure_reason": "-",
			"upstream_cluster": "web", "upstream_host": up, "upstream_local_address": peer,
			"downstream_local_address": ferryAddr, "downstream_remote_address": got[0].client, "request_method": "GET",
			"request_uri": "/api/users?id=7", "request_path": "/api/users", "request_arg": "id=7",
			"request_header_x-request-id": "r-1", "response_header_x-peer": peer},
		{"bytes_received": fmt.Sprint(len(reqs[1])), "bytes_sent": fmt.Sprint(len(got[1].resp)), "protocol": "Http1",
			"response_code": "404", "response_flag": "true", "upstream_transport_failure_reason": "no_route",
			"upstream_cluster": "-", "upstream_host": "-", "upstream_local_address": "-",
			"downstream_local_address": ferryAddr, "downstream_remote_address": got[1].client, "request_method": "GET",
			"request_uri": "/nowhere", "request_path": "/nowhere", "request_arg": "-",
			"request_header_x-request-id": "-", "response_header_x-peer": "-",
			"request_received_duration": "-", "response_received_duration": "-"},
		{"bytes_received": fmt.Sprint(len(reqs[2])), "bytes_sent": fmt.Sprint(len(got[2].resp)), "protocol": "Http1",
			"response_code": "503", "response_flag": "true", "upstream_transport_failure_reason": "upstream_connect_failed",
			"upstream_cluster": "dead", "upstream_host": dead, "upstream_local_address": "-",
			"downstream_local_address": ferryAddr, "downstream_remote_address": got[2].client, "request_method": "GET",
			"request_uri": "/dead/x", "request_path": "/dead/x", "request_arg": "-",
			"request_header_x-request-id": "r-3", "response_header_x-peer": "-",
			"request_received_duration": "-", "response_received_duration": "-"},
	}
	names := strings.Fields(strings.ReplaceAll(format, "%", ""))
	for i, line := range lines {
		f := strings.Split(line, " ")
		if len(f) != len(names)+1 { // start_time holds a space
			t.Fatalf("line %d has %d fields, want %d: %q", i, len(f), len(names)+1, line)
		}
		fields := map[string]string{"start_time": f[0] + " " + f[1]}
		for j, n := range names[1:] {
			fields[n] = f[j+2]
		}
		checkLine(t, i, fields, want[i], got[i].before, got[i].after)

		var obj map[string]any
		if err := json.Unmarshal([]byte(objs[i]), &obj); err != nil {
			t.Fatalf("JSON line %d %q: %v", i, objs[i], err)
		}
		if len(obj) != len(names) {
			t.Errorf("JSON line %d has %d keys, want %d", i, len(obj), len(names))
		}
		for n, text := range fields { // the JSON line says what the text line says
			var js string
			switch v := obj[n].(type) {
			case nil:
				js = "-"
			case float64:
				js = fmt.Sprint(int64(v))
			case bool:
				js = fmt.Sprint(v)
			case string:
				js = v
			}
			if js != text {
				t.Errorf("line %d: JSON %s = %#v, text %q", i, n, obj[n], text)
			}
		}
	}
	st := a.AccessLogStats()
	if len(st) != 2 || st[0].Lines != 3 || st[1].Lines != 3 || st[0].Dropped+st[1].Dropped != 0 {
		t.Errorf("stats %+v, want 3 lines per file and no drops", st)
	}
	// The counters reach /metrics.
	for _, w := range []struct {
		name, path, result string
		v                  float64
	}{
		{"ferry_access_log_lines_total", textPath, "written", 3}, {"ferry_access_log_lines_total", textPath, "dropped", 0},
		{"ferry_access_log_lines_total", jsonPath, "written", 3}, {"ferry_access_log_errors_total", jsonPath, "", 0},
	} {
		if got, ok := gathered(t, a, w.name, map[string]string{"path": w.path, "result": w.result}); !ok || got != w.v {
			t.Errorf("metric %s{path=%q,result=%q} = %v (present %v), want %v", w.name, w.path, w.result, got, ok, w.v)
		}
	}
}

// checkLine compares one line's fields with want, and its times with the
// client's clock around the request.
func checkLine(t *testing.T, i int, got, want map[string]string, before, after time.Time) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("line %d: %s = %q, want %q", i, k, got[k], v)
		}
	}
	start, err := time.ParseInLocation(accesslog.StartTimeLayout, got["start_time"], time.Local)
	if err != nil || start.Before(before.Truncate(time.Millisecond)) || start.After(after) {
		t.Errorf("line %d: start_time %q (%v) not within the request (%v to %v)", i, got["start_time"], err, before, after)
	}
	elapsed := after.Sub(before)
	var prev time.Duration
	for _, k := range []string{"request_received_duration", "response_received_duration", "request_finished_duration", "duration"} {
		if want[k] == "-" {
			continue
		}
		d, err := time.ParseDuration(got[k])
		if err != nil || d <= 0 || d < prev || d > elapsed {
			t.Errorf("line %d: %s = %q (%v): want a duration after the previous stage (%v) and within %v", i, k, got[k], err, prev, elapsed)
		}
		prev = d
	}
}

// peerEchoUpstream answers 200 "hello" with the address it saw the
// request come from in X-Peer.
func peerEchoUpstream(t *testing.T) string {
	t.Helper()
	return testutil.ServeHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Peer", r.RemoteAddr)
		_, _ = io.WriteString(w, "hello")
	})
}

// responseHeader reads a header of a raw HTTP/1.1 response.
func responseHeader(t *testing.T, raw []byte, name string) string {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.Header.Get(name)
}

func readFile(t *testing.T, p string) string { t.Helper(); return testutil.ReadFile(t, p) }

// TestAccessLogHTTP2: h2c requests are logged as Http2, with the body
// bytes each way (the heads travel as HPACK), through the JSON encoding:
// a forwarded POST, and a request no route matches (ferry's own reply).
func TestAccessLogHTTP2(t *testing.T) {
	up := peerEchoUpstream(t)
	p := filepath.Join(t.TempDir(), "h2.json")
	cfg := routeTo(t, "c", up)
	cfg.Servers[0].Routers[0].VirtualHosts[0].Routers[0].Match.Prefix = "/x"
	a := startApp(t, withAccessLogs(t, cfg, config.AccessLog{Path: p, Encoding: "json",
		Format: "%protocol% %response_code% %bytes_received% %bytes_sent% %request_method% %request_uri% %upstream_cluster%" +
			" %upstream_local_address% %response_header_x-peer% %request_header_x-request-id% %upstream_transport_failure_reason%"}))
	h2 := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer h2.CloseIdleConnections()
	do := func(method, path, body string) (*http.Response, string) {
		req, err := http.NewRequest(method, "http://"+a.Addrs()[0].String()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Request-Id", "h2-1")
		resp, err := (&http.Client{Transport: h2}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.ProtoMajor != 2 {
			t.Fatalf("%s %s: HTTP/%d (%v)", method, path, resp.ProtoMajor, err)
		}
		return resp, string(b)
	}
	resp, body := do(http.MethodPost, "/x?q=1", "abc")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	peer := resp.Header.Get("X-Peer")
	miss, missBody := do(http.MethodGet, "/nowhere", "")
	if miss.StatusCode != 404 || missBody == "" {
		t.Fatalf("GET /nowhere: %d %q", miss.StatusCode, missBody)
	}
	// A stream may end on the loop just after the client has read its last
	// DATA frame: wait for both lines.
	testutil.WaitFor(t, 5*time.Second, "two access log lines", func() bool {
		_ = a.ReopenAccessLogs() // writes what is queued
		return strings.Count(readFile(t, p), "\n") == 2
	})
	want := []map[string]any{
		{"protocol": "Http2", "response_code": float64(200), "bytes_received": float64(3),
			"bytes_sent": float64(5), "request_method": "POST", "request_uri": "/x?q=1", "upstream_cluster": "c",
			"upstream_local_address": peer, "response_header_x-peer": peer, "request_header_x-request-id": "h2-1",
			"upstream_transport_failure_reason": nil},
		{"protocol": "Http2", "response_code": float64(404), "bytes_received": float64(0),
			"bytes_sent": float64(len(missBody)), "request_method": "GET", "request_uri": "/nowhere",
			"upstream_cluster": nil, "upstream_local_address": nil, "response_header_x-peer": nil,
			"request_header_x-request-id": "h2-1", "upstream_transport_failure_reason": "no_route"},
	}
	for i, line := range strings.Split(strings.TrimSuffix(readFile(t, p), "\n"), "\n") {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want[i]) || peer == "" {
			t.Fatalf("line %d %v, want %v", i, got, want[i])
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("line %d: %s = %#v, want %#v", i, k, got[k], v)
			}
		}
	}
}
