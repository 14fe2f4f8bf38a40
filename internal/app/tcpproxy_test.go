package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// tcp_proxy through the whole of ferry: the filter is built from its
// config (tcpproxy.go), plain and behind TLS termination, and to a
// cluster with TLS to its hosts.

// relayEcho echoes every byte and, at the client's FIN, appends
// "bye" and closes.
func relayEcho(t *testing.T) *testutil.RawServer {
	return testutil.NewRawServer(t, func(c net.Conn) {
		_, _ = io.Copy(c, c)
		_, _ = io.WriteString(c, "bye")
	})
}

// tcpProxyConfig is a one-listener config whose chain is a tcp_proxy to
// cluster c (hosts), with chainExtra added to the filter chain and
// clusterExtra to the cluster.
func tcpProxyConfig(t *testing.T, upAddr, chainExtra, clusterExtra string) *config.Config {
	t.Helper()
	cfg := mustConfig(t, fmt.Sprintf(`{"servers":[{"listeners":[{"name":"l4","address":"127.0.0.1:0",
		"filter_chains":[{%s"filters":[{"type":"tcp_proxy","config":{"routes":[{"cluster":"c"}],"idle_timeout":"30s"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}]%s}]}}`, chainExtra, upAddr, clusterExtra))
	cfg.ApplyDefaults()
	return cfg
}

// roundTrip writes msg, half-closes (when the connection can), and reads
// everything until the upstream's close.
func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := io.ReadAll(c)
	if err != nil && !strings.HasSuffix(string(got), "bye") {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	return string(got)
}

// TestTCPProxyRunsFromConfig: a tcp_proxy listener relays both ways, and
// the client's FIN is a half-close: the upstream still answers after it.
func TestTCPProxyRunsFromConfig(t *testing.T) {
	up := relayEcho(t)
	a := startApp(t, tcpProxyConfig(t, up.Addr(), "", ""))
	c := testutil.DialTCP(t, a.Addrs()[0].String(), 30*time.Second)
	msg := strings.Repeat("ferry ", 50000)
	if got := roundTrip(t, c, msg); got != msg+"bye" {
		t.Fatalf("got %d bytes, want %d (the echo, then bye after the FIN)", len(got), len(msg)+3)
	}
}

// TestTCPProxyBehindTLS: TLS is terminated in front of the tcp_proxy; the
// upstream sees plain text and the client's close_notify ends the relay
// after the echo came back.
func TestTCPProxyBehindTLS(t *testing.T) {
	up := relayEcho(t)
	cert := testutil.NewCert(t, "127.0.0.1")
	files := writeFiles(t, map[string][]byte{"cert.pem": cert.CertPEM, "key.pem": cert.KeyPEM})
	a := startApp(t, tcpProxyConfig(t, up.Addr(),
		fmt.Sprintf(`"tls_context":{"status":true,"cert_chain":%q,"private_key":%q},`, files["cert.pem"], files["key.pem"]), ""))
	c, err := tls.Dial("tcp", a.Addrs()[0].String(), &tls.Config{RootCAs: cert.Pool})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := strings.Repeat("sealed ", 20000)
	go func() { _, _ = io.WriteString(c, msg) }()
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo through TLS: %v", err)
	}
	// A plain client on the same port is not relayed in plain text.
	p := testutil.DialTCP(t, a.Addrs()[0].String(), 10*time.Second)
	_, _ = io.WriteString(p, "GET / HTTP/1.1\r\n\r\n")
	if got, _ := io.ReadAll(p); strings.Contains(string(got), "GET") {
		t.Fatalf("a plain client was relayed: %q", got)
	}
}

// TestTCPProxyToATLSCluster: a tcp_proxy to a cluster with TLS to its
// hosts dials them with TLS (the cluster's dialer); the client speaks
// plain text to ferry.
func TestTCPProxyToATLSCluster(t *testing.T) {
	cert := testutil.NewCert(t, "127.0.0.1")
	up := testutil.NewTLSServer(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, func(c *tls.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		_, _ = c.Write(append([]byte("tls:"), buf...))
	})
	files := writeFiles(t, map[string][]byte{"ca.pem": cert.CAPEM})
	a := startApp(t, tcpProxyConfig(t, up.Addr(), "", `,"tls_context":{"status":true,"ca_cert":`+quote(files["ca.pem"])+`}`))
	c := testutil.DialTCP(t, a.Addrs()[0].String(), 10*time.Second)
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "tls:hello" {
		t.Fatalf("got %q, want the TLS upstream's answer", got)
	}
	if st := up.States(); len(st) != 1 {
		t.Fatalf("%d TLS handshakes upstream, want 1", len(st))
	}
}

// TestWebSocketUpgradeConfigsFromConfig: upgrade_configs on the proxy
// filter and on a route reach the proxy: websocket is on by default, off
// where the listener turns it off, and a route entry turns it back on.
func TestWebSocketUpgradeConfigsFromConfig(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // not an upgrade: Accept answered it
		}
		defer c.CloseNow() //nolint:errcheck // the test ends the exchange
		typ, msg, err := c.Read(r.Context())
		if err == nil {
			_ = c.Write(r.Context(), typ, msg)
		}
	}))
	t.Cleanup(up.Close)
	for _, tc := range []struct {
		name, listener string
		want           map[string]bool // path: upgraded
	}{
		{"default", ``, map[string]bool{"/ws": true, "/on": true}},
		{"off on the listener, on for a route", `,"upgrade_configs":[{"upgrade_type":"websocket","enabled":false}]`,
			map[string]bool{"/ws": false, "/on": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustConfig(t, fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
				"routers":[{"match":{"prefix":"/on"},"route":{"cluster_name":"c","upgrade_configs":[{"upgrade_type":"websocket"}]}},
				{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
				"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{"filters":[
				{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"%s}}]}]}]}],
				"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}]}]}}`, tc.listener, up.Listener.Addr().String()))
			cfg.ApplyDefaults()
			a := startApp(t, cfg)
			for path, upgraded := range tc.want {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, _, err := websocket.Dial(ctx, "ws://"+a.Addrs()[0].String()+path, nil)
				if (err == nil) != upgraded {
					cancel()
					t.Fatalf("%s: dial error %v; want upgraded %v", path, err, upgraded)
				}
				if err == nil {
					if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
						t.Fatal(err)
					}
					if _, msg, err := c.Read(ctx); err != nil || string(msg) != "hi" {
						t.Fatalf("%s: echo %q, %v", path, msg, err)
					}
					_ = c.Close(websocket.StatusNormalClosure, "")
				}
				cancel()
			}
		})
	}
}

func TestListenerUpgrades(t *testing.T) {
	off, on := false, true
	for _, tc := range []struct {
		in   []config.UpgradeConfig
		want []string
	}{
		{nil, nil},
		{[]config.UpgradeConfig{{UpgradeType: "WebSocket", Enabled: &off}}, []string{}},
		{[]config.UpgradeConfig{{UpgradeType: "h2c"}}, []string{"websocket", "h2c"}},
		{[]config.UpgradeConfig{{UpgradeType: "websocket", Enabled: &off}, {UpgradeType: "Echo", Enabled: &on}}, []string{"echo"}},
	} {
		if got := listenerUpgrades(tc.in); !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("listenerUpgrades(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestWebSocketToATLSCluster: an upgrade to a cluster with TLS to its
// hosts: the upstream side of the relay is written through its record
// layer (no direct writes), and messages and the close handshake pass.
func TestWebSocketToATLSCluster(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: up.Certificate().Raw})
	files := writeFiles(t, map[string][]byte{"ca.pem": ca})
	cfg := mustConfig(t, fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{"filters":[
		{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}],"tls_context":{"status":true,"ca_cert":%q}}]}}`,
		up.Listener.Addr().String(), files["ca.pem"]))
	cfg.ApplyDefaults()
	a := startApp(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+a.Addrs()[0].String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	for i := range 200 {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*1000)
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

// TestConnectFromConfig: upgrade_configs CONNECT on the proxy filter and
// a connect_matcher route reach the proxy: a CONNECT is tunnelled to the
// route's cluster (relayEcho, whatever authority the client names), and
// a route whose entry disables CONNECT answers 501.
func TestConnectFromConfig(t *testing.T) {
	up := relayEcho(t)
	cfg := mustConfig(t, fmt.Sprintf(`{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[
		{"name":"v","domains":["*"],"routers":[{"match":{"connect_matcher":{}},"route":{"cluster_name":"c"}}]},
		{"name":"off","domains":["off.test:443"],"routers":[{"match":{"connect_matcher":{}},
			"route":{"cluster_name":"c","upgrade_configs":[{"upgrade_type":"CONNECT","enabled":false}]}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{"filters":[
		{"type":"proxy","config":{"downstream_protocol":"Http1","router_config_name":"r","upgrade_configs":[{"upgrade_type":"CONNECT","connect_config":{}}]}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":%q}]}]}}`, up.Addr()))
	cfg.ApplyDefaults()
	a := startApp(t, cfg)
	for _, tc := range []struct{ authority, head, rest string }{
		{"example.com:443", "HTTP/1.1 200 Connection established", "ping bye"},
		{"off.test:443", "HTTP/1.1 501 ", ""},
	} {
		c := testutil.DialTCP(t, a.Addrs()[0].String(), 10*time.Second)
		if _, err := io.WriteString(c, "CONNECT "+tc.authority+" HTTP/1.1\r\nHost: "+tc.authority+"\r\n\r\nping "); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		head, err := testutil.ReadHead(r)
		if err != nil || !strings.HasPrefix(head, tc.head) {
			t.Fatalf("CONNECT %s: head %q, %v; want %q", tc.authority, head, err, tc.head)
		}
		_ = c.CloseWrite() // after the answer: a FIN before it would end the CONNECT
		if rest, err := io.ReadAll(r); tc.rest != "" && (err != nil || string(rest) != tc.rest) {
			t.Fatalf("CONNECT %s: tunnelled %q, %v; want %q", tc.authority, rest, err, tc.rest)
		}
		_ = c.Close()
	}
}
