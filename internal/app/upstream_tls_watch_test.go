package app

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A TLS cluster's CA, client certificate and key files are watched between
// reloads (docs/tls.md, "Upstream TLS"): a change is used by new
// connections without a reload, and a file that fails to load leaves the
// last good material in use and is logged.

// replaceFile writes data to path through a rename, as an operator (or a
// certificate agent) replaces a file in place.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// watchLoads is how many times the cluster's files were loaded again.
func watchLoads(a *App, cluster string) uint64 {
	m := a.upTLS.clusters.Load()
	if m == nil || (*m)[cluster] == nil || (*m)[cluster].watch == nil {
		return 0
	}
	return (*m)[cluster].watch.Loads.Load()
}

// TestUpstreamTLSWatchesTheCA: a cluster trusting the wrong CA answers 503;
// once its ca_cert file holds the right CA, new connections verify
// without a reload. A CA file then replaced with garbage is logged and
// the CA loaded before stays in use.
func TestUpstreamTLSWatchesTheCA(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 2s watcher")
	}
	cert := testutil.NewCert(t, "127.0.0.1")
	stranger := testutil.NewCert(t, "127.0.0.1")
	up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}, true) // a handshake per request
	files := writeFiles(t, map[string][]byte{"ca.pem": stranger.CAPEM})
	a, log := startLogged(t, tlsClusterConfig(t, host(up.addr()), `,"tls_context":{"status":true,"ca_cert":`+quote(files["ca.pem"])+`}`))
	url := "http://" + a.Addrs()[0].String() + "/"
	if code, _ := testutil.Fetch(t, http.MethodGet, url); code != http.StatusServiceUnavailable {
		t.Fatalf("got %d with the wrong CA, want 503", code)
	}

	replaceFile(t, files["ca.pem"], cert.CAPEM)
	testutil.WaitFor(t, 20*time.Second, "the watcher to load the new CA", func() bool { return watchLoads(a, "c") == 1 })
	if code, body := testutil.Fetch(t, http.MethodGet, url); code != http.StatusOK || body != "hello over TLS" {
		t.Fatalf("got %d %q with the right CA, want 200", code, body)
	}
	if !strings.Contains(log.String(), "upstream TLS files changed") {
		t.Fatalf("the change was not logged:\n%s", log.String())
	}

	replaceFile(t, files["ca.pem"], []byte("not a certificate"))
	testutil.WaitFor(t, 20*time.Second, "the bad CA file to be logged", func() bool {
		return strings.Contains(log.String(), "certificate files failed to load") &&
			strings.Contains(log.String(), "cluster_manager.clusters[0].tls_context.ca_cert: no PEM certificate found")
	})
	if code, _ := testutil.Fetch(t, http.MethodGet, url); code != http.StatusOK {
		t.Fatalf("got %d after a bad CA file, want 200 (the last good CA)", code)
	}
	if n := watchLoads(a, "c"); n != 1 {
		t.Fatalf("%d loads counted, want 1 (the bad file is not one)", n)
	}
}

// TestUpstreamTLSWatchesTheClientCertificate: a host that requires a
// client certificate sees the one of the cluster's files; once the files
// hold another, new connections present it without a reload.
func TestUpstreamTLSWatchesTheClientCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 2s watcher")
	}
	cert := testutil.NewCert(t, "127.0.0.1")
	one, two := cert.Client(t, "one"), cert.Client(t, "two")
	up := newTLSUpstream(t, &tls.Config{Certificates: []tls.Certificate{cert.TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cert.Pool}, true)
	files := writeFiles(t, map[string][]byte{"ca.pem": cert.CAPEM, "client.pem": one.CertPEM, "client.key": one.KeyPEM})
	a := startApp(t, tlsClusterConfig(t, host(up.addr()), `,"tls_context":{"status":true,"ca_cert":`+quote(files["ca.pem"])+
		`,"cert_chain":`+quote(files["client.pem"])+`,"private_key":`+quote(files["client.key"])+`}`))
	url := "http://" + a.Addrs()[0].String() + "/"
	client := func() string {
		t.Helper()
		if code, _ := testutil.Fetch(t, http.MethodGet, url); code != http.StatusOK {
			t.Fatalf("got %d", code)
		}
		st := up.seen()
		return st[len(st)-1].PeerCertificates[0].Subject.CommonName
	}
	if cn := client(); cn != "one" {
		t.Fatalf("the host saw client certificate %q, want one", cn)
	}
	// The key first: until the certificate follows, the pair does not
	// match, and the old one stays in use.
	replaceFile(t, files["client.key"], two.KeyPEM)
	replaceFile(t, files["client.pem"], two.CertPEM)
	testutil.WaitFor(t, 20*time.Second, "the watcher to load the new pair", func() bool { return watchLoads(a, "c") >= 1 })
	if cn := client(); cn != "two" {
		t.Fatalf("after the files changed the host saw client certificate %q, want two", cn)
	}
}

// TestCertLoadFailureLoggedOncePerMinute: a file that stays bad is logged
// when first seen, not again at every 2s check; another failure is.
func TestCertLoadFailureLoggedOncePerMinute(t *testing.T) {
	var buf testutil.Buffer
	a := &App{log: slog.New(slog.NewTextHandler(&buf, nil))}
	bad := errors.New("cluster c: cluster_manager.clusters[0].tls_context.ca_cert: no PEM certificate found")
	for range 3 {
		a.certLoadFailed(bad)
	}
	a.certLoadFailed(errors.New("cluster c: another"))
	if n := strings.Count(buf.String(), "certificate files failed to load"); n != 2 {
		t.Fatalf("%d lines logged, want 2 (one per failure):\n%s", n, buf.String())
	}
}
