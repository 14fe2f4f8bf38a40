package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ServerTLS is a listener's TLS, checked: what internal/app builds the
// listener's conn.TLSServer from (docs/tls.md). Validate and the runtime
// build both get it from ListenerTLS, so they agree.
type ServerTLS struct {
	// Contexts are the listener's TLS contexts in order (tls_context, or
	// tls_context_set); the first answers server names no other does.
	Contexts []ServerTLSContext
	// Inspector also serves plain text on the port.
	Inspector bool
}

// ServerTLSContext is one checked TLS context.
type ServerTLSContext struct {
	// Path is the context's configuration path.
	Path string
	// Config holds versions, cipher suites, curves, ALPN and client
	// authentication; the certificate is the runtime's to serve
	// (GetCertificate), from Load.
	Config *tls.Config
	// Names are the server names the context answers: server_name and
	// its certificate's DNS names, lower case.
	Names []string
	// Load reads cert_chain and private_key again.
	Load func() (*tls.Certificate, error)
	// Files are the files Load reads (none for inline PEM).
	Files []string
}

// ListenerTLS checks the TLS of listener l, found at lp, and builds it;
// nil without a TLS context of status true. Every problem is passed to
// add with the path of the field at fault. It reads the certificate,
// key and CA files. Any goroutine.
func ListenerTLS(l *Listener, lp string, add func(path, msg string)) *ServerTLS {
	if len(l.FilterChains) == 0 {
		return nil
	}
	fc := &l.FilterChains[0]
	fp := lp + ".filter_chains[0]"
	var ctxs []*TLSConfig
	var paths []string
	if fc.TLSContext != nil {
		ctxs, paths = append(ctxs, fc.TLSContext), append(paths, fp+".tls_context")
	} else {
		for i := range fc.TLSContextSet {
			ctxs, paths = append(ctxs, &fc.TLSContextSet[i]), append(paths, index(fp+".tls_context_set", i))
		}
	}
	on := 0
	for _, c := range ctxs {
		if c.Status {
			on++
		}
	}
	if on == 0 {
		return nil
	}
	if on != len(ctxs) {
		add(fp+".tls_context_set", "every context has status true, or none: "+strconv.Itoa(len(ctxs)-on)+
			" of "+strconv.Itoa(len(ctxs))+" would leave TLS off")
		return nil
	}
	offer := alpnOffer(fc)
	st := &ServerTLS{Inspector: l.Inspector}
	ok := true
	for i, c := range ctxs {
		sc, good := serverContext(c, paths[i], offer, add)
		ok = ok && good
		st.Contexts = append(st.Contexts, sc)
	}
	if !ok {
		return nil
	}
	return st
}

// alpnOffer is what the chain's proxy speaks, as ALPN protocol IDs.
func alpnOffer(fc *FilterChain) []string {
	for i := range fc.Filters {
		if f := &fc.Filters[i]; f.Type == ProxyFilterType && f.Proxy != nil {
			switch down, _ := f.Proxy.Protocols(); down {
			case protocolHTTP1:
				return []string{"http/1.1"}
			case protocolHTTP2:
				return []string{"h2"}
			default:
				return []string{"h2", "http/1.1"}
			}
		}
	}
	return []string{"h2", "http/1.1"}
}

// serverContext checks and builds one context; it reports whether the
// context is usable.
func serverContext(c *TLSConfig, p string, offer []string, add func(path, msg string)) (ServerTLSContext, bool) {
	bad := false
	fail := func(field, msg string) {
		add(p+"."+field, msg)
		bad = true
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	sc := ServerTLSContext{Path: p, Config: cfg}

	// The certificate and its key.
	switch {
	case c.CertChain == "":
		fail("cert_chain", "required when status is true")
	case c.PrivateKey == "":
		fail("private_key", "required when status is true")
	default:
		certChain, keyPEM := c.CertChain, c.PrivateKey
		sc.Load = func() (*tls.Certificate, error) {
			cert, field, err := loadKeyPair(certChain, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", p, field, err)
			}
			return cert, nil
		}
		for _, v := range []string{certChain, keyPEM} {
			if !isInlinePEM(v) {
				sc.Files = append(sc.Files, v)
			}
		}
		cert, field, err := loadKeyPair(certChain, keyPEM)
		if err != nil {
			fail(field, err.Error())
		} else {
			sc.Names = serverNames(c.ServerName, cert.Leaf)
		}
	}

	// Client certificates.
	if c.CACert != "" {
		if pool, _ := caPool(c.CACert, fail); pool != nil {
			cfg.ClientCAs = pool
		}
	}
	switch {
	case c.VerifyClient && c.CACert == "":
		fail("verify_client", "needs ca_cert, the CA that client certificates are verified against")
	case c.RequireClientCert && !c.VerifyClient:
		fail("require_client_cert", "needs verify_client: without it MOSN asks for a client certificate and accepts any, unverified")
	case c.VerifyClient && c.RequireClientCert:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case c.VerifyClient:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}

	tlsParams(cfg, tlsParamFields{c.MinVersion, c.MaxVersion, c.CipherSuites, c.EcdhCurves}, "TLS 1.2 clients could not connect", fail)

	// ALPN: what the listener's proxy speaks.
	cfg.NextProtos = offer
	if c.ALPN != "" {
		var protos []string
		for _, name := range strings.Split(c.ALPN, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if !slices.Contains(offer, name) {
				fail("alpn", strconv.Quote(name)+" is not spoken by this listener's downstream_protocol, which offers "+
					strings.Join(offer, ", "))
				continue
			}
			protos = append(protos, name)
		}
		cfg.NextProtos = protos
	}
	return sc, !bad
}

// tlsParamFields are the version, cipher suite and curve settings that a
// listener's and a cluster's contexts share.
type tlsParamFields struct{ minVersion, maxVersion, cipherSuites, ecdhCurves string }

// tlsParams checks the versions, cipher suites and curves of a context
// into cfg, passing each problem to fail with its field. tls12Lost says
// what a list of TLS 1.3 suites alone would cost.
func tlsParams(cfg *tls.Config, c tlsParamFields, tls12Lost string, fail func(field, msg string)) {
	bad := false
	failed := func(field, msg string) {
		bad = true
		fail(field, msg)
	}
	// Versions.
	if c.minVersion != "" {
		v, msg := tlsVersion(c.minVersion, tls.VersionTLS12)
		if msg != "" {
			failed("min_version", msg)
		}
		cfg.MinVersion = v
	}
	if c.maxVersion != "" {
		v, msg := tlsVersion(c.maxVersion, tls.VersionTLS13)
		if msg != "" {
			failed("max_version", msg)
		}
		cfg.MaxVersion = v
	}
	if cfg.MinVersion > cfg.MaxVersion {
		failed("min_version", "above max_version: no TLS version is left")
	}

	// Cipher suites (TLS 1.2; crypto/tls picks TLS 1.3's).
	if c.cipherSuites != "" {
		tls13Only := true
		for _, name := range strings.Split(c.cipherSuites, ":") {
			name = strings.TrimSpace(name)
			id, tls13, ok := cipherSuite(name)
			switch {
			case !ok:
				failed("cipher_suites", "unknown cipher suite "+strconv.Quote(name)+"; MOSN's names are "+cipherNames())
			case tls13:
			default:
				tls13Only = false
				cfg.CipherSuites = append(cfg.CipherSuites, id)
			}
		}
		if tls13Only && cfg.MinVersion <= tls.VersionTLS12 && !bad {
			failed("cipher_suites", "names no TLS 1.2 cipher suite, so "+tls12Lost+"; add one or set min_version to TLSv1_3")
		}
	}

	// Curves.
	if c.ecdhCurves != "" {
		for _, name := range strings.Split(c.ecdhCurves, ",") {
			id, ok := curve(strings.TrimSpace(name))
			if !ok {
				failed("ecdh_curves", "unknown curve "+strconv.Quote(name)+"; MOSN's names are x25519, p256, p384, p521")
				continue
			}
			cfg.CurvePreferences = append(cfg.CurvePreferences, id)
		}
	}
}

// serverNames lists the names a context answers.
func serverNames(serverName string, leaf *x509.Certificate) []string {
	var names []string
	if serverName != "" {
		names = append(names, strings.ToLower(serverName))
	}
	if leaf != nil {
		for _, n := range leaf.DNSNames {
			names = append(names, strings.ToLower(n))
		}
		if len(leaf.DNSNames) == 0 && leaf.Subject.CommonName != "" {
			names = append(names, strings.ToLower(leaf.Subject.CommonName))
		}
	}
	return names
}

// isInlinePEM reports whether a certificate field holds PEM text rather
// than a file path.
func isInlinePEM(v string) bool { return strings.Contains(v, "-----BEGIN") }

// readPEM returns a field's PEM: the value itself, or the file it names.
func readPEM(v string) ([]byte, error) {
	if isInlinePEM(v) {
		return []byte(v), nil
	}
	data, err := os.ReadFile(v)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot read %q: %w", v, err)
	}
	return data, nil
}

// loadKeyPair reads and parses a certificate chain and its key; on error
// it names the field at fault (cert_chain or private_key).
func loadKeyPair(certChain, privateKey string) (*tls.Certificate, string, error) {
	certPEM, err := readPEM(certChain)
	if err != nil {
		return nil, "cert_chain", err
	}
	var block *pem.Block
	for rest := certPEM; ; {
		block, rest = pem.Decode(rest)
		if block == nil || block.Type == "CERTIFICATE" {
			break
		}
	}
	if block == nil {
		return nil, "cert_chain", errors.New("no PEM certificate found")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, "cert_chain", fmt.Errorf("bad certificate: %w", err)
	}
	keyPEM, err := readPEM(privateKey)
	if err != nil {
		return nil, "private_key", err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		if strings.Contains(msg, "does not match") {
			msg = "does not match the certificate of cert_chain (" + msg + ")"
		}
		return nil, "private_key", errors.New(msg)
	}
	return &cert, "", nil
}

// tlsVersion maps MOSN's version names (any case); TLS_AUTO is def.
func tlsVersion(name string, def uint16) (uint16, string) {
	switch strings.ToLower(name) {
	case "tls_auto":
		return def, ""
	case "tlsv1_2":
		return tls.VersionTLS12, ""
	case "tlsv1_3":
		return tls.VersionTLS13, ""
	case "tlsv1_0", "tlsv1_1":
		return def, strconv.Quote(name) + " is refused: ferry serves TLS 1.2 and 1.3 (TLSv1_2, TLSv1_3, TLS_AUTO)"
	}
	return def, "unknown TLS version " + strconv.Quote(name) + "; MOSN's names are TLS_AUTO, TLSv1_2, TLSv1_3"
}

// cipherSuite maps MOSN's cipher suite names (pkg/mtls ciphers.go); tls13
// marks the TLS 1.3 suites, which crypto/tls always chooses itself.
func cipherSuite(name string) (id uint16, tls13, ok bool) {
	switch name {
	case "ECDHE-ECDSA-AES256-GCM-SHA384":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, false, true
	case "ECDHE-RSA-AES256-GCM-SHA384":
		return tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, false, true
	case "ECDHE-ECDSA-AES128-GCM-SHA256":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false, true
	case "ECDHE-RSA-AES128-GCM-SHA256":
		return tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, false, true
	case "ECDHE-ECDSA-WITH-CHACHA20-POLY1305":
		return tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, false, true
	case "ECDHE-RSA-WITH-CHACHA20-POLY1305":
		return tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, false, true
	case "ECDHE-RSA-AES256-CBC-SHA":
		return tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, false, true
	case "ECDHE-RSA-AES128-CBC-SHA":
		return tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false, true
	case "ECDHE-ECDSA-AES256-CBC-SHA":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false, true
	case "ECDHE-ECDSA-AES128-CBC-SHA":
		return tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false, true
	case "RSA-AES256-CBC-SHA":
		return tls.TLS_RSA_WITH_AES_256_CBC_SHA, false, true
	case "RSA-AES128-CBC-SHA":
		return tls.TLS_RSA_WITH_AES_128_CBC_SHA, false, true
	case "ECDHE-RSA-3DES-EDE-CBC-SHA":
		return tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, false, true
	case "RSA-3DES-EDE-CBC-SHA":
		return tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, false, true
	case "AES256-GCM-SHA384", "AES128-GCM-SHA256":
		return 0, true, true
	}
	return 0, false, false
}

// cipherNames lists MOSN's cipher suite names for an error message.
func cipherNames() string {
	return "ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-RSA-AES256-GCM-SHA384, ECDHE-ECDSA-AES128-GCM-SHA256, " +
		"ECDHE-RSA-AES128-GCM-SHA256, ECDHE-ECDSA-WITH-CHACHA20-POLY1305, ECDHE-RSA-WITH-CHACHA20-POLY1305, " +
		"ECDHE-RSA-AES256-CBC-SHA, ECDHE-RSA-AES128-CBC-SHA, ECDHE-ECDSA-AES256-CBC-SHA, ECDHE-ECDSA-AES128-CBC-SHA, " +
		"RSA-AES256-CBC-SHA, RSA-AES128-CBC-SHA, ECDHE-RSA-3DES-EDE-CBC-SHA, RSA-3DES-EDE-CBC-SHA, " +
		"AES256-GCM-SHA384, AES128-GCM-SHA256"
}

// curve maps MOSN's curve names (any case).
func curve(name string) (tls.CurveID, bool) {
	switch strings.ToLower(name) {
	case "x25519":
		return tls.X25519, true
	case "p256":
		return tls.CurveP256, true
	case "p384":
		return tls.CurveP384, true
	case "p521":
		return tls.CurveP521, true
	}
	return 0, false
}

// ClientTLS is a cluster's TLS to its hosts, checked: what internal/app
// builds the cluster's conn.TLSDialer from (docs/tls.md, "Upstream TLS").
// Validate and the runtime build both get it from ClusterTLS, so they
// agree.
type ClientTLS struct {
	// Path is the context's configuration path: the cluster's
	// tls_context, or cluster_manager.tls_context for a cluster with
	// cluster_manager_tls.
	Path string
	// Config holds the roots (nil: the system's), the client certificate,
	// versions, cipher suites, curves, ALPN and InsecureSkipVerify.
	// ServerName is server_name, empty for each host's own name.
	Config *tls.Config
	// InsecureSkip is insecure_skip: the hosts' certificates are not
	// verified.
	InsecureSkip bool
	// Key identifies the settings and the bytes of every file read: a
	// reload keeps a cluster's hosts and their pooled connections only
	// when it is unchanged.
	Key string
	// Files are the files read (ca_cert, cert_chain, private_key that
	// are paths rather than inline PEM), watched between reloads.
	Files []string
	// Reload reads the files again and builds the context anew with the
	// same settings (its Key says whether the files' bytes changed), or
	// fails with the problems found, each with its path.
	Reload func() (*ClientTLS, error)
	// H2 is whether the cluster's HTTP/2 connections (an Http2 proxy's)
	// may offer ALPN "h2": alpn absent, or naming it. Config.NextProtos
	// is what its HTTP/1.1 connections offer: "http/1.1" when alpn is
	// absent or names it, none otherwise (a host then speaks HTTP/1.1).
	// Each kind of connection offers its own protocol alone, so that a
	// host never picks one the connection's pool does not speak.
	H2 bool
}

// ClusterTLS checks the TLS of cluster ci of cm and builds it; nil when the
// cluster dials plain text. Every problem is passed to add with the path
// of the field at fault. It reads the CA, certificate and key files. Any
// goroutine.
func ClusterTLS(cm *ClusterManager, ci int, add func(path, msg string)) *ClientTLS {
	cl := &cm.Clusters[ci]
	cp := index("cluster_manager.clusters", ci)
	c, p := cl.TLSContext, cp+".tls_context"
	if cl.ClusterManagerTLS {
		switch {
		case cl.TLSContext != nil && cl.TLSContext.Status:
			add(cp+".cluster_manager_tls", "set with tls_context.status: one context or the other, "+
				"as MOSN would ignore this cluster's own")
			return nil
		case cm.TLSContext == nil || !cm.TLSContext.Status:
			add(cp+".cluster_manager_tls", "cluster_manager.tls_context has no status true: "+
				"the cluster would be dialled in plain text")
			return nil
		}
		c, p = cm.TLSContext, "cluster_manager.tls_context"
	}
	if c == nil || !c.Status {
		return nil
	}
	// What ferry speaks to TLS upstreams, as ALPN IDs: h2 on an Http2
	// proxy's connections, http/1.1 on the others (ClientTLS.H2).
	return clientContext(c, p, []string{"h2", "http/1.1"}, add)
}

// caPool reads the ca_cert (a file or inline PEM) of a listener or a
// cluster into a pool, with the PEM it read; nil after a problem, reported
// through fail.
func caPool(caCert string, fail func(field, msg string)) (*x509.CertPool, []byte) {
	data, err := readPEM(caCert)
	pool := x509.NewCertPool()
	switch {
	case err != nil:
		fail("ca_cert", err.Error())
	case !pool.AppendCertsFromPEM(data):
		fail("ca_cert", "no PEM certificate found")
	default:
		return pool, data
	}
	return nil, nil
}

// clientContext checks and builds one cluster context; speak is what the
// cluster's users speak to it, as ALPN IDs. Nil when a problem was found.
func clientContext(c *UpstreamTLSConfig, p string, speak []string, add func(path, msg string)) *ClientTLS {
	bad := false
	fail := func(field, msg string) {
		add(p+"."+field, msg)
		bad = true
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
		ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkip} // insecure_skip, set explicitly; logged at start
	key := sha256.New()
	_, _ = fmt.Fprintf(key, "%q %q %q %q %t %q %q %q %q %q\n", c.ServerName, c.CACert, c.CertChain, c.PrivateKey,
		c.InsecureSkip, c.CipherSuites, c.EcdhCurves, c.MinVersion, c.MaxVersion, c.ALPN)

	// The roots the hosts are verified against.
	if c.CACert != "" {
		if pool, data := caPool(c.CACert, fail); pool != nil {
			cfg.RootCAs = pool
			key.Write(data)
		}
	}

	// The client certificate, for hosts that ask for one.
	switch {
	case c.CertChain != "" && c.PrivateKey == "":
		fail("private_key", "required with cert_chain (the client certificate's key)")
	case c.CertChain == "" && c.PrivateKey != "":
		fail("cert_chain", "required with private_key (the client certificate)")
	case c.CertChain != "":
		cert, field, err := loadKeyPair(c.CertChain, c.PrivateKey)
		if err != nil {
			fail(field, err.Error())
			break
		}
		cfg.Certificates = []tls.Certificate{*cert}
		for _, der := range cert.Certificate {
			key.Write(der)
		}
		if k, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey); err == nil {
			key.Write(k)
		}
	}

	tlsParams(cfg, tlsParamFields{c.MinVersion, c.MaxVersion, c.CipherSuites, c.EcdhCurves},
		"a TLS 1.2 host could not be reached", fail)

	// ALPN: what the cluster's users speak, each kind of connection its
	// own (ClientTLS.H2).
	offer := speak
	if c.ALPN != "" {
		offer = nil
		for _, name := range strings.Split(c.ALPN, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if !slices.Contains(speak, name) {
				fail("alpn", "unknown or unspoken protocol "+strconv.Quote(name)+"; ferry speaks "+
					strings.Join(speak, ", ")+" to upstreams")
				continue
			}
			offer = append(offer, name)
		}
	}
	cfg.NextProtos = nil
	if slices.Contains(offer, "http/1.1") {
		cfg.NextProtos = []string{"http/1.1"}
	}
	if bad {
		return nil
	}
	ct := &ClientTLS{Path: p, Config: cfg, InsecureSkip: c.InsecureSkip, Key: hex.EncodeToString(key.Sum(nil)),
		H2: slices.Contains(offer, "h2")}
	for _, v := range []string{c.CACert, c.CertChain, c.PrivateKey} {
		if v != "" && !isInlinePEM(v) {
			ct.Files = append(ct.Files, v)
		}
	}
	cc := *c // the settings as they are now
	ct.Reload = func() (*ClientTLS, error) {
		var msgs []string
		next := clientContext(&cc, p, speak, func(path, msg string) { msgs = append(msgs, path+": "+msg) })
		if next == nil {
			return nil, errors.New(strings.Join(msgs, "; "))
		}
		return next, nil
	}
	return ct
}
