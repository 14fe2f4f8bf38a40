package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// Cert is a certificate made for a test: ECDSA P-256, signed by its own
// throwaway CA. Nothing of it is ever written outside the test.
type Cert struct {
	// TLS is the certificate with its key, for a server or client config.
	TLS tls.Certificate
	// CertPEM and KeyPEM are the leaf (with no chain) and its PKCS#8 key.
	CertPEM, KeyPEM []byte
	// CAPEM is the CA that signed it; Pool holds the same CA.
	CAPEM []byte
	Pool  *x509.CertPool
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
}

// NewCert makes a CA and a certificate it signs for names (DNS names or IP
// addresses; 127.0.0.1 if none).
func NewCert(t testing.TB, names ...string) *Cert {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cert{ca: ca, caKey: caKey, CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	c.Pool = x509.NewCertPool()
	c.Pool.AddCert(ca)
	c.issue(t, x509.ExtKeyUsageServerAuth, names...)
	return c
}

// Client returns a client certificate signed by the same CA.
func (c *Cert) Client(t testing.TB, name string) *Cert {
	t.Helper()
	cc := &Cert{ca: c.ca, caKey: c.caKey, CAPEM: c.CAPEM, Pool: c.Pool}
	cc.issue(t, x509.ExtKeyUsageClientAuth, name)
	return cc
}

// Reissue makes a new certificate for names from the same CA, in place.
func (c *Cert) Reissue(t testing.TB, names ...string) {
	t.Helper()
	c.issue(t, x509.ExtKeyUsageServerAuth, names...)
}

func (c *Cert) issue(t testing.TB, usage x509.ExtKeyUsage, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = []string{"127.0.0.1"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	c.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	c.TLS, err = tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
}
