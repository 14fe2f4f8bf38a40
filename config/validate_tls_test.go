package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPair makes a self-signed ECDSA P-256 certificate for names and
// returns its PEM and its key's PEM (the config package may not import
// internal/testutil).
func testPair(t *testing.T, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

// tlsFiles writes a key pair for a.example.com into dir and returns its
// PEMs, the two file paths and a key that does not match it: what the TLS
// validation tests of listeners and clusters start from.
func tlsFiles(t *testing.T, dir string) (cert, key, otherKey, certFile, keyFile string) {
	t.Helper()
	cert, key = testPair(t, "a.example.com")
	_, otherKey = testPair(t, "b.example.com")
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return cert, key, otherKey, write("cert.pem", cert), write("key.pem", key)
}

// jsonString is s as a JSON string.
func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// tlsListenerConfig is a valid config whose listener has chain as its
// filter chain's TLS part (a JSON fragment) and whose proxy speaks down.
func tlsListenerConfig(chain, down, cluster string) string {
	return `{"servers":[{"routers":[{"router_config_name":"r","virtual_hosts":[{"name":"v","domains":["*"],
		"routers":[{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}]}]}],
		"listeners":[{"name":"l","address":"127.0.0.1:0","filter_chains":[{` + chain + `
		"filters":[{"type":"proxy","config":{"downstream_protocol":"` + down + `","router_config_name":"r"}}]}]}]}],
		"cluster_manager":{"clusters":[{"name":"c","hosts":[{"address":"127.0.0.1:9"}]` + cluster + `}]}}`
}

// TestTLSContextValidation: every TLS field of a listener is checked, with
// an error naming its path; a good context builds.
func TestTLSContextValidation(t *testing.T) {
	dir := t.TempDir()
	cert, key, otherKey, certFile, keyFile := tlsFiles(t, dir)
	q := jsonString
	ctx := func(extra string) string {
		return `"tls_context":{"status":true,"cert_chain":` + q(certFile) + `,"private_key":` + q(keyFile) + extra + `},`
	}
	const p = "servers[0].listeners[0].filter_chains[0].tls_context"
	tests := []struct {
		name, chain, down, cluster, want string // want "" means valid
	}{
		{"files", ctx(""), "Auto", "", ""},
		{"inline PEM and every option", `"tls_context":{"status":true,"cert_chain":` + q(cert) + `,"private_key":` + q(key) +
			`,"ca_cert":` + q(cert) + `,"verify_client":true,"require_client_cert":true,"min_version":"TLSv1_2","max_version":"tlsv1_3",` +
			`"cipher_suites":"ECDHE-ECDSA-AES128-GCM-SHA256:AES128-GCM-SHA256","ecdh_curves":"X25519,p256","alpn":"h2","server_name":"a.example.com"},`,
			"Http2", "", ""},
		{"status false reads nothing", `"tls_context":{"status":false,"cert_chain":"/nonexistent"},`, "Auto", "", ""},
		{"unreadable cert", `"tls_context":{"status":true,"cert_chain":"/nonexistent/cert.pem","private_key":` + q(keyFile) + `},`,
			"Auto", "", p + `.cert_chain: cannot read "/nonexistent/cert.pem": no such file or directory`},
		{"no cert", `"tls_context":{"status":true,"private_key":` + q(keyFile) + `},`, "Auto", "", p + ".cert_chain: required when status is true"},
		{"garbage cert", `"tls_context":{"status":true,"cert_chain":"-----BEGIN NOTHING-----\n","private_key":` + q(keyFile) + `},`,
			"Auto", "", p + ".cert_chain: no PEM certificate found"},
		{"key not matching", `"tls_context":{"status":true,"cert_chain":` + q(certFile) + `,"private_key":` + q(otherKey) + `},`,
			"Auto", "", p + ".private_key: does not match the certificate of cert_chain"},
		{"TLS 1.0", ctx(`,"min_version":"TLSv1_0"`), "Auto", "", p + `.min_version: "TLSv1_0" is refused: ferry serves TLS 1.2 and 1.3`},
		{"unknown version", ctx(`,"max_version":"TLS1.3"`), "Auto", "", p + `.max_version: unknown TLS version "TLS1.3"`},
		{"min above max", ctx(`,"min_version":"TLSv1_3","max_version":"TLSv1_2"`), "Auto", "", p + ".min_version: above max_version"},
		{"unknown cipher", ctx(`,"cipher_suites":"ECDHE-ECDSA-AES128-GCM-SHA256:RC4-MD5"`), "Auto", "", p + `.cipher_suites: unknown cipher suite "RC4-MD5"`},
		{"only TLS 1.3 ciphers", ctx(`,"cipher_suites":"AES128-GCM-SHA256"`), "Auto", "", p + ".cipher_suites: names no TLS 1.2 cipher suite"},
		{"unknown curve", ctx(`,"ecdh_curves":"x25519,secp256k1"`), "Auto", "", p + `.ecdh_curves: unknown curve "secp256k1"`},
		{"verify without CA", ctx(`,"verify_client":true`), "Auto", "", p + ".verify_client: needs ca_cert"},
		{"require without verify", ctx(`,"require_client_cert":true,"ca_cert":` + q(certFile)), "Auto", "", p + ".require_client_cert: needs verify_client"},
		{"bad CA", ctx(`,"verify_client":true,"ca_cert":"/nonexistent/ca.pem"`), "Auto", "", p + `.ca_cert: cannot read "/nonexistent/ca.pem"`},
		{"h2 on an Http1 listener", ctx(`,"alpn":"h2,http/1.1"`), "Http1", "", p + `.alpn: "h2" is not spoken by this listener's downstream_protocol, which offers http/1.1`},
		{"provider type", ctx(`,"type":"babassl"`), "Auto", "", p + ".type: not implemented"},
		{"fallback is strict", ctx(`,"fall_back":true`), "Auto", "", p + ".fall_back: not implemented: a listener whose certificate failed to load would serve plain text"},
		{"mixed set", `"tls_context_set":[{"status":true,"cert_chain":` + q(certFile) + `,"private_key":` + q(keyFile) + `},{"status":false}],`,
			"Auto", "", "servers[0].listeners[0].filter_chains[0].tls_context_set: every context has status true, or none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkTLSValidation(t, tlsListenerConfig(tc.chain, tc.down, tc.cluster), tc.want, nil)
		})
	}
}

// checkTLSValidation validates cfg with allow_unimplemented off and on:
// want "" must be valid, otherwise the error must contain want (an
// ordinary ".type" refusal may pass when allowed). more, if not nil,
// checks an error that matched.
func checkTLSValidation(t *testing.T, cfg, want string, more func(allow bool, err error)) {
	t.Helper()
	for _, allow := range []bool{false, true} {
		c, err := Parse([]byte(cfg), FormatJSON)
		if err != nil {
			t.Fatal(err)
		}
		c.Ferry.Compat.AllowUnimplemented = allow
		err = c.Validate()
		switch {
		case want == "" && err != nil:
			t.Fatalf("allow %v: %v", allow, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			if allow && strings.Contains(want, ".type: not implemented") {
				continue // an ordinary refusal: allow_unimplemented runs without it
			}
			t.Fatalf("allow %v: got %v\nwant %s", allow, err, want)
		case more != nil && want != "":
			more(allow, err)
		}
	}
}

// TestListenerTLSBuilds: the built contexts carry what was configured, the
// names for SNI and a loader that reads the files again.
func TestListenerTLSBuilds(t *testing.T) {
	dir := t.TempDir()
	cert, key := testPair(t, "A.example.com", "*.b.example.com")
	certFile := filepath.Join(dir, "c.pem")
	if err := os.WriteFile(certFile, []byte(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &Listener{Inspector: true, FilterChains: []FilterChain{{
		TLSContextSet: []TLSConfig{{Status: true, CertChain: certFile, PrivateKey: key, ServerName: "Alias.example.com", MaxVersion: "TLSv1_2"}},
		Filters:       []NetworkFilter{{Type: ProxyFilterType, Proxy: &ProxyConfig{DownstreamProtocol: "Http1"}}},
	}}}
	var problems []string
	st := ListenerTLS(l, "l", func(p, m string) { problems = append(problems, p+": "+m) })
	if len(problems) > 0 || st == nil || len(st.Contexts) != 1 || !st.Inspector {
		t.Fatalf("problems %v, built %+v", problems, st)
	}
	sc := st.Contexts[0]
	if got := strings.Join(sc.Names, " "); got != "alias.example.com a.example.com *.b.example.com" {
		t.Errorf("names %q", got)
	}
	if sc.Config.MaxVersion != tls.VersionTLS12 || sc.Config.MinVersion != tls.VersionTLS12 ||
		strings.Join(sc.Config.NextProtos, ",") != "http/1.1" {
		t.Errorf("config: versions %x-%x alpn %v", sc.Config.MinVersion, sc.Config.MaxVersion, sc.Config.NextProtos)
	}
	if len(sc.Files) != 1 || sc.Files[0] != certFile {
		t.Errorf("files %v, want the cert file only (the key is inline)", sc.Files)
	}
	if _, err := sc.Load(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Load(); err == nil || !strings.Contains(err.Error(), "l.filter_chains[0].tls_context_set[0].cert_chain: no PEM certificate found") {
		t.Fatalf("reload of a broken file: %v", err)
	}
}
