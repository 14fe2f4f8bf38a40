package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterTLSValidation: every TLS field of a cluster is checked, with
// an error naming its path; a good context validates.
func TestClusterTLSValidation(t *testing.T) {
	dir := t.TempDir()
	cert, key, otherKey, certFile, keyFile := tlsFiles(t, dir)
	q := jsonString
	ctx := func(extra string) string { return `,"tls_context":{"status":true` + extra + `}` }
	const p = "cluster_manager.clusters[0].tls_context"
	const strictWhy = "and refuses this even with allow_unimplemented"
	tests := []struct {
		name, cluster, want string // want "" means valid
	}{
		{"system roots", ctx(""), ""},
		{"files and every option", ctx(`,"ca_cert":` + q(certFile) + `,"cert_chain":` + q(certFile) + `,"private_key":` + q(keyFile) +
			`,"server_name":"a.example.com","min_version":"TLSv1_2","max_version":"TLS_AUTO","alpn":"http/1.1",` +
			`"cipher_suites":"ECDHE-ECDSA-AES128-GCM-SHA256:AES128-GCM-SHA256","ecdh_curves":"x25519,P256",` +
			`"verify_client":true,"ticket":"t"`), ""},
		{"inline PEM", ctx(`,"ca_cert":` + q(cert) + `,"cert_chain":` + q(cert) + `,"private_key":` + q(key)), ""},
		{"insecure_skip", ctx(`,"insecure_skip":true`), ""},
		{"status false reads nothing", `,"tls_context":{"status":false,"ca_cert":"/nonexistent"}`, ""},
		{"unreadable CA", ctx(`,"ca_cert":"/nonexistent/ca.pem"`), p + `.ca_cert: cannot read "/nonexistent/ca.pem": no such file or directory`},
		{"garbage CA", ctx(`,"ca_cert":"-----BEGIN NOTHING-----\n"`), p + ".ca_cert: no PEM certificate found"},
		{"CA file of no PEM", ctx(`,"ca_cert":` + q(keyFile)), p + ".ca_cert: no PEM certificate found"},
		{"cert without key", ctx(`,"cert_chain":` + q(certFile)), p + ".private_key: required with cert_chain"},
		{"key without cert", ctx(`,"private_key":` + q(keyFile)), p + ".cert_chain: required with private_key"},
		{"unreadable cert", ctx(`,"cert_chain":"/nonexistent/c.pem","private_key":` + q(keyFile)), p + `.cert_chain: cannot read "/nonexistent/c.pem"`},
		{"unreadable key", ctx(`,"cert_chain":` + q(certFile) + `,"private_key":"/nonexistent/k.pem"`), p + `.private_key: cannot read "/nonexistent/k.pem"`},
		{"key not matching", ctx(`,"cert_chain":` + q(certFile) + `,"private_key":` + q(otherKey)), p + ".private_key: does not match the certificate of cert_chain"},
		{"TLS 1.1", ctx(`,"max_version":"TLSv1_1"`), p + `.max_version: "TLSv1_1" is refused`},
		{"unknown version", ctx(`,"min_version":"SSLv3"`), p + `.min_version: unknown TLS version "SSLv3"`},
		{"min above max", ctx(`,"min_version":"TLSv1_3","max_version":"TLSv1_2"`), p + ".min_version: above max_version"},
		{"unknown cipher", ctx(`,"cipher_suites":"RC4-MD5"`), p + `.cipher_suites: unknown cipher suite "RC4-MD5"`},
		{"only TLS 1.3 ciphers", ctx(`,"cipher_suites":"AES128-GCM-SHA256"`), p + ".cipher_suites: names no TLS 1.2 cipher suite, so a TLS 1.2 host could not be reached"},
		{"unknown curve", ctx(`,"ecdh_curves":"p224"`), p + `.ecdh_curves: unknown curve "p224"`},
		{"h2", ctx(`,"alpn":"h2,http/1.1"`), ""},
		{"h2 alone", ctx(`,"alpn":"h2"`), ""},
		{"unknown ALPN", ctx(`,"alpn":"spdy/3"`), p + `.alpn: unknown or unspoken protocol "spdy/3"`},
		{"provider type", ctx(`,"type":"babassl"`), p + ".type: not implemented"},
		{"fallback is strict", ctx(`,"fall_back":true`), p + ".fall_back: not implemented: a cluster whose certificate failed to load would be dialled in plain text"},
		{"manager TLS", `,"cluster_manager_tls":true`, "cluster_manager.clusters[0].cluster_manager_tls: cluster_manager.tls_context has no status true"},
		{"manager TLS and its own", `,"cluster_manager_tls":true` + ctx(""), "cluster_manager.clusters[0].cluster_manager_tls: set with tls_context.status"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkTLSValidation(t, tlsListenerConfig("", "Auto", tc.cluster), tc.want, func(allow bool, err error) {
				if strings.Contains(tc.want, "fall_back") && !strings.Contains(err.Error(), strictWhy) {
					t.Fatalf("allow %v: %v does not say it is strict", allow, err)
				}
			})
		})
	}
}

// TestClusterTLSBuilds: the built context carries what was configured;
// cluster_manager_tls takes the manager's context; Key changes with a
// setting or a file's bytes and with nothing else.
func TestClusterTLSBuilds(t *testing.T) {
	dir := t.TempDir()
	cert, key := testPair(t, "client.example.com")
	ca, _ := testPair(t, "ca.example.com")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, []byte(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	cm := &ClusterManager{
		TLSContext: &UpstreamTLSConfig{Status: true, ServerName: "shared.example.com"},
		Clusters: []Cluster{
			{Name: "a", TLSContext: &UpstreamTLSConfig{Status: true, CACert: caFile, CertChain: cert, PrivateKey: key,
				MaxVersion: "TLSv1_2", EcdhCurves: "p384"}},
			{Name: "b", ClusterManagerTLS: true},
			{Name: "c"},
		},
	}
	var problems []string
	add := func(p, m string) { problems = append(problems, p+": "+m) }
	a := ClusterTLS(cm, 0, add)
	b := ClusterTLS(cm, 1, add)
	if ClusterTLS(cm, 2, add) != nil || len(problems) > 0 || a == nil || b == nil {
		t.Fatalf("problems %q; a %v, b %v", problems, a, b)
	}
	cfg := a.Config
	if a.Path != "cluster_manager.clusters[0].tls_context" || cfg.RootCAs == nil || len(cfg.Certificates) != 1 ||
		cfg.ServerName != "" || cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != tls.VersionTLS12 ||
		len(cfg.CurvePreferences) != 1 || cfg.CurvePreferences[0] != tls.CurveP384 ||
		len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "http/1.1" || cfg.InsecureSkipVerify {
		t.Fatalf("built %+v", cfg)
	}
	if b.Path != "cluster_manager.tls_context" || b.Config.ServerName != "shared.example.com" || b.Config.RootCAs != nil {
		t.Fatalf("manager context built at %s: %+v", b.Path, b.Config)
	}
	if again := ClusterTLS(cm, 0, add); again.Key != a.Key {
		t.Fatal("the key changed with nothing changed")
	}
	other, _ := testPair(t, "ca.example.com")
	if err := os.WriteFile(caFile, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	rotated := ClusterTLS(cm, 0, add)
	cm.Clusters[0].TLSContext.MinVersion = "TLSv1_2"
	changed := ClusterTLS(cm, 0, add)
	if rotated.Key == a.Key || changed.Key == rotated.Key {
		t.Fatal("the key missed a new CA file or a changed setting")
	}

	// The watched files, and Reload reading them again.
	if len(a.Files) != 1 || a.Files[0] != caFile || a.Reload == nil {
		t.Fatalf("files %q", a.Files)
	}
	if next, err := a.Reload(); err != nil || next.Config.RootCAs == nil || next.Config.RootCAs.Equal(a.Config.RootCAs) ||
		next.Key != rotated.Key {
		t.Fatalf("reload: %v; want the new CA and the key of the files as they are", err)
	}
	if err := os.WriteFile(caFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reload(); err == nil || err.Error() != "cluster_manager.clusters[0].tls_context.ca_cert: no PEM certificate found" {
		t.Fatalf("reload of a bad CA file: %v", err)
	}
}

// TestClusterTLSALPN: each kind of connection offers its own protocol:
// http/1.1 on Config (HTTP/1.1 pools), h2 through H2 (HTTP/2 pools), both
// by default and as alpn restricts them.
func TestClusterTLSALPN(t *testing.T) {
	for alpn, want := range map[string]struct {
		http1 string
		h2    bool
	}{"": {"http/1.1", true}, "h2,http/1.1": {"http/1.1", true}, "h2": {"", true}, "http/1.1": {"http/1.1", false}} {
		cm := &ClusterManager{Clusters: []Cluster{{Name: "a", TLSContext: &UpstreamTLSConfig{Status: true, ALPN: alpn}}}}
		ct := ClusterTLS(cm, 0, func(p, m string) { t.Fatalf("%s: %s", p, m) })
		if got := strings.Join(ct.Config.NextProtos, ","); got != want.http1 || ct.H2 != want.h2 {
			t.Errorf("alpn %q: HTTP/1.1 offers %q, h2 %v; want %q, %v", alpn, got, ct.H2, want.http1, want.h2)
		}
	}
}
