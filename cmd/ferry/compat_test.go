package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// outcome is what one ferry command did: its exit code, the error block
// it printed, and its warnings.
type outcome struct {
	code     int
	err      string
	warnings []string
	// stderr is everything printed, for failure messages.
	stderr string
}

// runFerry runs ferry's command line in-process. A started ferry is told to
// stop at once (after it opened its listeners), so start runs end to end.
func runFerry(args ...string) outcome {
	stop := make(chan struct{})
	close(stop)
	var out, errb bytes.Buffer
	code := runUntil(args, &out, &errb, stop)
	o := outcome{code: code, stderr: errb.String()}
	for _, line := range strings.Split(errb.String(), "\n") {
		if w, ok := strings.CutPrefix(line, "ferry: warning: "); ok {
			o.warnings = append(o.warnings, w)
		}
	}
	if _, e, ok := strings.Cut(errb.String(), "ferry: invalid configuration:\n"); ok {
		o.err = e
	}
	return o
}

// testConfigs writes every configuration kept under config/testdata (the
// golden inputs, MOSN's examples and the valid samples) into dir, returning
// the file paths.
func testConfigs(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"mosn/*.json", "valid/*", "golden/*.golden"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "config", "testdata", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(f)
			if n, ok := strings.CutSuffix(name, ".golden"); ok {
				name = "golden-" + n
				in, _, _ := strings.Cut(string(data), "\n----\n")
				data = []byte(in)
			}
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		}
	}
	if len(files) < 20 {
		t.Fatalf("found %d test configs, want the whole testdata tree", len(files))
	}
	return files
}

// portable rewrites a parsed config so that start may run it in a test:
// listeners on 127.0.0.1:0, the pid file and logs in dir, no admin API. It returns the
// new file, or "" when the config does not parse (then nothing binds).
func portable(t *testing.T, file, dir string) string {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		return ""
	}
	for si := range cfg.Servers {
		s := &cfg.Servers[si]
		for li := range s.Listeners {
			s.Listeners[li].Address = "127.0.0.1:0"
		}
		switch s.DefaultLogPath {
		case "", "stdout", "stderr":
		default:
			s.DefaultLogPath = filepath.Join(dir, "ferry.log")
		}
	}
	if cfg.Pid != "" {
		cfg.Pid = filepath.Join(dir, "ferry.pid")
	}
	if cfg.Admin != nil && cfg.Admin.Address != nil {
		cfg.Admin.Address.SocketAddress.PortValue = 0 // off: tests bind no fixed port
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "portable-"+strings.ReplaceAll(filepath.Base(file), ".", "-")+".json")
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestValidateAgreesWithStart walks every config in testdata through
// validate and through start, with and without --allow-unimplemented:
// whatever start refuses, validate refuses with the same message, and what
// validate accepts, start serves (on port 0) with the same warnings.
func TestValidateAgreesWithStart(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // a config's processor sets it
	dir := t.TempDir()
	accepted, refused := 0, 0
	for _, f := range testConfigs(t, dir) {
		if p := portable(t, f, dir); p != "" {
			f = p
		}
		for _, flags := range [][]string{nil, {"--allow-unimplemented"}} {
			t.Run(fmt.Sprintf("%s%v", filepath.Base(f), flags), func(t *testing.T) {
				v := runFerry(append([]string{"validate", "-c", f}, flags...)...)
				s := runFerry(append([]string{"start", "-c", f}, flags...)...)
				if v.code != s.code || v.err != s.err || !slices.Equal(v.warnings, s.warnings) {
					t.Fatalf("validate and start disagree:\nvalidate: exit %d\n%s\nstart: exit %d\n%s", v.code, v.stderr, s.code, s.stderr)
				}
				if v.code == 0 {
					accepted++
				} else {
					refused++
				}
			})
		}
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("%d accepted and %d refused: the walk must cover both", accepted, refused)
	}
}

// writeConfig writes a one-listener config on addr, with extra merged into
// the listener, cluster and top level by simple substitution.
func writeConfig(t *testing.T, addr, listenerExtra, clusterExtra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":%q%s,
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:9"}]%s}]}}`, addr, listenerExtra, clusterExtra)
	p := filepath.Join(t.TempDir(), "ferry.json")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnimplementedIsRefusedUnlessAllowed: a behaviour-changing field
// ferry does not implement makes validate and start exit 1 naming its path
// and what would go wrong; --allow-unimplemented runs without it, warning.
func TestUnimplementedIsRefusedUnlessAllowed(t *testing.T) {
	const path = "cluster_manager.clusters[0].slow_start: not implemented: new hosts would take their full share at once instead of ramping up"
	f := writeConfig(t, "127.0.0.1:0", "", `,"slow_start":{"mode":"duration","slow_start_duration":"30s"}`)
	for _, cmd := range []string{"validate", "start"} {
		o := runFerry(cmd, "-c", f)
		if o.code != 1 || !strings.Contains(o.err, path) {
			t.Errorf("%s: exit %d, error %q; want exit 1 naming %q", cmd, o.code, o.err, path)
		}
		o = runFerry(cmd, "-c", f, "--allow-unimplemented")
		if o.code != 0 || len(o.warnings) != 1 || !strings.Contains(o.warnings[0], "cluster_manager.clusters[0].slow_start: not implemented") {
			t.Errorf("%s --allow-unimplemented: exit %d, warnings %q; want exit 0 and the slow_start warning", cmd, o.code, o.warnings)
		}
	}
}

// TestTLSListenerServesTLSOnly: a listener whose tls_context has status
// true serves TLS (validate and start accept it; the handshake presents the
// configured certificate, HTTP works over it) and never plain text (a
// plain request gets a 400 saying why, not the upstream's answer).
func TestTLSListenerServesTLSOnly(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "hello") }))
	defer up.Close()
	cert := testutil.NewCert(t, "127.0.0.1")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, data := range map[string][]byte{certFile: cert.CertPEM, keyFile: cert.KeyPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := testutil.ClosedAddr(t) // a free port for the TLS listener
	tlsCtx := fmt.Sprintf(`,"filter_chains":[{"tls_context":{"status":true,"cert_chain":%q,"private_key":%q},`+
		`"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]`, certFile, keyFile)
	// The listener's own filter_chains is replaced by the TLS one, and the
	// cluster points at the test upstream.
	f := writeConfig(t, addr, "", "")
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	plain := `,
		"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]`
	withTLS := strings.Replace(string(data), plain, tlsCtx, 1)
	withTLS = strings.Replace(withTLS, `"127.0.0.1:9"`, strconv.Quote(up.Listener.Addr().String()), 1)
	if withTLS == string(data) {
		t.Fatal("test config template changed: no filter_chains to replace")
	}
	if err := os.WriteFile(f, []byte(withTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	if o := runFerry("validate", "-c", f); o.code != 0 {
		t.Fatalf("validate: exit %d, %q", o.code, o.err)
	}
	stop := make(chan struct{})
	exited := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() { exited <- runUntil([]string{"start", "-c", f}, &out, &errb, stop) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.Pool}}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var resp *http.Response
	testutil.WaitFor(t, 20*time.Second, "ferry to serve HTTPS", func() bool {
		resp, err = client.Get("https://" + addr + "/")
		return err == nil
	})
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "hello" || resp.TLS == nil {
		t.Fatalf("over TLS: %d %q %v (TLS %v)", resp.StatusCode, body, err, resp.TLS != nil)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	_ = c.Close()
	if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 400 ") || strings.Contains(string(got), "hello") {
		t.Fatalf("plain text to the TLS port got %q, %v; want a 400 and never the upstream's answer", got, err)
	}
	close(stop)
	if code := <-exited; code != 0 {
		t.Fatalf("start exited %d: %s", code, errb.String())
	}

	// A cluster's TLS that cannot be honoured is refused, even with
	// --allow-unimplemented, by validate and start alike: an unreadable
	// CA, and fall_back (strict).
	for _, tc := range []struct{ ctx, want string }{
		{`"status":true,"ca_cert":"/nonexistent/ca.pem"`,
			`cluster_manager.clusters[0].tls_context.ca_cert: cannot read "/nonexistent/ca.pem": no such file or directory`},
		{`"status":true,"fall_back":true`,
			"cluster_manager.clusters[0].tls_context.fall_back: not implemented: a cluster whose certificate failed to load would be dialled in plain text"},
	} {
		cf := writeConfig(t, "127.0.0.1:0", "", `,"tls_context":{`+tc.ctx+`}`)
		for _, flags := range [][]string{nil, {"--allow-unimplemented"}} {
			for _, cmd := range []string{"validate", "start"} {
				o := runFerry(append([]string{cmd, "-c", cf}, flags...)...)
				if o.code != 1 || !strings.Contains(o.err, tc.want) {
					t.Fatalf("%s %v: exit %d, error %q; want exit 1 naming %q", cmd, flags, o.code, o.err, tc.want)
				}
			}
		}
	}
}

// TestListedMismatchesAgree pins each case where validate once passed what
// start then refused (or ran without a word): both now give the same
// verdict, and a refusal names the path.
func TestListedMismatchesAgree(t *testing.T) {
	const proxyChain = `"filter_chains":[{"filters":[{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]`
	cfg := func(route, listener, cluster string) string {
		return fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
			"routers":[%s]}]}],"listeners":[{"name":"l","address":"127.0.0.1:0",%s}]}],
			"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:9"}]%s},{"name":"d","hosts":[{"address":"127.0.0.1:9"}]}]}}`,
			route, listener, cluster)
	}
	const toC = `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`
	tests := []struct {
		name, config string
		want         string // "" means accepted
	}{
		{"LB_PEAKEWMA", cfg(toC, proxyChain, `,"lb_type":"LB_PEAKEWMA"`),
			`cluster_manager.clusters[0].lb_type: lb_type "LB_PEAKEWMA" not implemented`},
		{"LB_MAGLEV", cfg(toC, proxyChain, `,"lb_type":"LB_MAGLEV"`), ""},
		{"only weighted_clusters", cfg(`{"match":{"prefix":"/"},"route":{"weighted_clusters":[{"cluster":{"name":"c","weight":1}}]}}`, proxyChain, ""), ""},
		{"only cluster_header", cfg(`{"match":{"prefix":"/"},"route":{"cluster_header":"x-cluster"}}`, proxyChain, ""), ""},
		{"unknown header variable", cfg(`{"match":{"prefix":"/"},"route":{"cluster_name":"c","request_headers_to_add":[{"header":{"key":"x-a","value":"%NOPE%"}}]}}`, proxyChain, ""),
			"servers[0].routers[0].virtual_hosts[0].routers[0]: route.request_headers_to_add[0].header.value: unknown variable %NOPE%"},
		{"path and prefix", cfg(`{"match":{"path":"/a","prefix":"/"},"route":{"cluster_name":"c"}}`, proxyChain, ""), ""},
		{"empty match", cfg(`{"match":{},"route":{"cluster_name":"c"}}`, proxyChain, ""), ""},
		{"stream filter", cfg(toC, `"stream_filters":[{"type":"fault","config":{}}],`+proxyChain, ""),
			`servers[0].listeners[0].stream_filters[0].type: not implemented: requests would pass without the "fault" filter`},
		{"network filter", cfg(toC, `"filter_chains":[{"filters":[{"type":"proxy","config":{"router_config_name":"r"}},{"type":"tcp_proxy","config":{"cluster":"c"}}]}]`, ""),
			`servers[0].listeners[0].filter_chains[0].filters[1]: a filter chain holds one "proxy" or "tcp_proxy" filter, not both nor two`},
		{"tcp_proxy", cfg(toC, `"filter_chains":[{"filters":[{"type":"tcp_proxy","config":{"cluster":"c"}}]}]`, ""), ""},
		{"unregistered network filter", cfg(toC, `"filter_chains":[{"filters":[{"type":"proxy","config":{"router_config_name":"r"}},{"type":"dubbo_proxy","config":{}}]}]`, ""),
			`servers[0].listeners[0].filter_chains[0].filters[1].type: not implemented: connections would not pass through the "dubbo_proxy" filter`},
		{"1xx direct response", cfg(`{"match":{"prefix":"/"},"direct_response":{"status":101}}`, proxyChain, ""),
			"servers[0].routers[0].virtual_hosts[0].routers[0].direct_response.status: status 101 is out of range 200..599"},
		{"regex with prefix_rewrite", cfg(`{"match":{"regex":"/a.*"},"route":{"cluster_name":"c","prefix_rewrite":"/b"}}`, proxyChain, ""),
			"servers[0].routers[0].virtual_hosts[0].routers[0].route.prefix_rewrite: needs a path or prefix match"},
		{"bind_port false", cfg(toC, `"bind_port":false,`+proxyChain, ""),
			"servers[0].listeners[0].bind_port: not implemented"},
		{"connection_idle_timeout", cfg(toC, `"connection_idle_timeout":"30s",`+proxyChain, ""), ""},
		{"router rejects what config does not check", cfg(`{"match":{"path":"a"},"route":{"cluster_name":"c"}}`, proxyChain, ""),
			`servers[0].routers[0].virtual_hosts[0].routers[0]: path "a" must start with '/'`},
		{"TLS certificate unreadable", cfg(toC, `"filter_chains":[{"tls_context":{"status":true,"cert_chain":"/nonexistent/c.pem","private_key":"/nonexistent/k.pem"},`+
			`"filters":[{"type":"proxy","config":{"router_config_name":"r"}}]}]`, ""),
			`servers[0].listeners[0].filter_chains[0].tls_context.cert_chain: cannot read "/nonexistent/c.pem": no such file or directory`},
		{"TLS version MOSN spells but ferry refuses", cfg(toC, `"filter_chains":[{"tls_context":{"status":true,"cert_chain":"c","private_key":"k","min_version":"TLSv1_1"},`+
			`"filters":[{"type":"proxy","config":{"router_config_name":"r"}}]}]`, ""),
			`servers[0].listeners[0].filter_chains[0].tls_context.min_version: "TLSv1_1" is refused: ferry serves TLS 1.2 and 1.3`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "ferry.json")
			if err := os.WriteFile(f, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			v := runFerry("validate", "-c", f)
			s := runFerry("start", "-c", f)
			if v.code != s.code || v.err != s.err || !slices.Equal(v.warnings, s.warnings) {
				t.Fatalf("validate (exit %d: %s) and start (exit %d: %s) disagree", v.code, v.stderr, s.code, s.stderr)
			}
			switch {
			case tc.want == "" && v.code != 0:
				t.Fatalf("refused: %s", v.err)
			case tc.want != "" && (v.code != 1 || !strings.Contains(v.err, tc.want)):
				t.Fatalf("exit %d, error %q; want exit 1 naming %q", v.code, v.err, tc.want)
			}
		})
	}
}
