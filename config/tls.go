package config

import "encoding/json"

// UpstreamTLSConfig is MOSN's TLS context on a cluster (and
// cluster_manager, for clusters with cluster_manager_tls): TLS to the
// hosts (docs/tls.md, "Upstream TLS"). Validate checks every field of a
// context with status true (files read, key matching, names MOSN
// accepts) and internal/app builds the cluster's dialer from the same
// checks (ClusterTLS). Its fields are TLSConfig's, seen from the client.
type UpstreamTLSConfig struct {
	// Status enables TLS to the hosts.
	Status bool `json:"status,omitempty" yaml:"status,omitempty" note:"TLS 1.2 and 1.3 to every host of the cluster (but those with tls_disable); hosts are verified against ca_cert, or the system roots (docs/tls.md, Upstream TLS)"`
	// Type selects a TLS provider extension.
	Type string `json:"type,omitempty" yaml:"type,omitempty" ferry:"refused" why:"MOSN's TLS provider extension named by type would not be used" until:"TLS provider extensions"`
	// ServerName is the SNI to send and the name the hosts' certificates
	// are verified against.
	ServerName string `json:"server_name,omitempty" yaml:"server_name,omitempty" note:"the SNI sent and the name verified; default: each host's own (the host of its address: a name is sent as SNI, an IP is sent no SNI and checked against the certificate's IP SANs)"`
	// CACert is the PEM (or path) of the CA that verifies the hosts.
	CACert string `json:"ca_cert,omitempty" yaml:"ca_cert,omitempty" note:"a file path or inline PEM; absent: the system roots. Files are read again on a config reload"`
	// CertChain is the PEM (or path) of the client certificate chain.
	CertChain string `json:"cert_chain,omitempty" yaml:"cert_chain,omitempty" note:"a file path or inline PEM: the client certificate sent to hosts that ask for one; read again on a config reload"`
	// PrivateKey is the PEM (or path) of the client private key.
	PrivateKey string `json:"private_key,omitempty" yaml:"private_key,omitempty" note:"a file path or inline PEM, matching cert_chain; read again on a config reload"`
	// VerifyClient is a server-side setting.
	VerifyClient bool `json:"verify_client,omitempty" yaml:"verify_client,omitempty" ferry:"ignored" why:"verifying client certificates is a TLS server's; a cluster's context is a client"`
	// RequireClientCert is a server-side setting.
	RequireClientCert bool `json:"require_client_cert,omitempty" yaml:"require_client_cert,omitempty" ferry:"ignored" why:"requiring client certificates is a TLS server's; a cluster's context is a client"`
	// InsecureSkip skips verification of the hosts' certificates.
	InsecureSkip bool `json:"insecure_skip,omitempty" yaml:"insecure_skip,omitempty" note:"the hosts' certificates are not verified (the traffic is still encrypted); logged as a warning at start and reload, naming the cluster"`
	// CipherSuites lists cipher suites, separated by ":".
	CipherSuites string `json:"cipher_suites,omitempty" yaml:"cipher_suites,omitempty" note:"MOSN's names (ECDHE-ECDSA-AES128-GCM-SHA256, …); TLS 1.3 suites are always crypto/tls's"`
	// EcdhCurves lists curves, separated by ",".
	EcdhCurves string `json:"ecdh_curves,omitempty" yaml:"ecdh_curves,omitempty" note:"x25519, p256, p384, p521"`
	// MinVersion is the lowest TLS version.
	MinVersion string `json:"min_version,omitempty" yaml:"min_version,omitempty" note:"TLS_AUTO, TLSv1_2 or TLSv1_3 (TLS 1.0 and 1.1 are refused); default TLS 1.2"`
	// MaxVersion is the highest TLS version.
	MaxVersion string `json:"max_version,omitempty" yaml:"max_version,omitempty" note:"TLS_AUTO, TLSv1_2 or TLSv1_3; default TLS 1.3"`
	// ALPN lists ALPN protocols, separated by ",".
	ALPN string `json:"alpn,omitempty" yaml:"alpn,omitempty" note:"h2 and http/1.1; each connection offers its own protocol alone: h2 for an Http2 proxy (h2 over TLS), http/1.1 otherwise; absent: both"`
	// Ticket is the session ticket key.
	Ticket string `json:"ticket,omitempty" yaml:"ticket,omitempty" ferry:"ignored" why:"session ticket keys are a TLS server's; ferry resumes sessions with hosts from a session cache per cluster"`
	// Fallback is MOSN's fallback when the certificate fails to load.
	Fallback bool `json:"fall_back,omitempty" yaml:"fall_back,omitempty" ferry:"refused,strict" why:"a cluster whose certificate failed to load would be dialled in plain text" until:"TLS fallback"`
	// ExtendVerify configures a custom verifier, verbatim.
	ExtendVerify json.RawMessage `json:"extend_verify,omitempty" yaml:"extend_verify,omitempty" ferry:"refused" why:"the custom certificate verifier would not run" until:"TLS verifier extensions"`
	// SdsSource fetches certificates over SDS, verbatim.
	SdsSource json.RawMessage `json:"sds_source,omitempty" yaml:"sds_source,omitempty" ferry:"refused" why:"certificates would not be fetched from SDS" until:"SDS"`
}
