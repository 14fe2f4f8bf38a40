package config

import "encoding/json"

// UpstreamTLSConfig is MOSN's TLS context on a cluster (and
// cluster_manager): TLS to the hosts, which ferry does not do yet. A
// context with status true is refused even with allow_unimplemented,
// since traffic meant to be encrypted would travel as plain text. The
// fields are TLSConfig's.
type UpstreamTLSConfig struct {
	// Status enables TLS to the hosts.
	Status bool `json:"status,omitempty" yaml:"status,omitempty" ferry:"refused,strict" why:"traffic to the hosts meant to be encrypted would travel as plain text" until:"TLS to upstreams"`
	// Type selects a TLS provider extension.
	Type string `json:"type,omitempty" yaml:"type,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// ServerName is the SNI to send.
	ServerName string `json:"server_name,omitempty" yaml:"server_name,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// CACert is the PEM (or path) of the CA that verifies the hosts.
	CACert string `json:"ca_cert,omitempty" yaml:"ca_cert,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// CertChain is the PEM (or path) of the client certificate chain.
	CertChain string `json:"cert_chain,omitempty" yaml:"cert_chain,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// PrivateKey is the PEM (or path) of the client private key.
	PrivateKey string `json:"private_key,omitempty" yaml:"private_key,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// VerifyClient is a server-side setting.
	VerifyClient bool `json:"verify_client,omitempty" yaml:"verify_client,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// RequireClientCert is a server-side setting.
	RequireClientCert bool `json:"require_client_cert,omitempty" yaml:"require_client_cert,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// InsecureSkip skips verification of the hosts' certificates.
	InsecureSkip bool `json:"insecure_skip,omitempty" yaml:"insecure_skip,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// CipherSuites lists cipher suites, separated by ":".
	CipherSuites string `json:"cipher_suites,omitempty" yaml:"cipher_suites,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// EcdhCurves lists curves, separated by ",".
	EcdhCurves string `json:"ecdh_curves,omitempty" yaml:"ecdh_curves,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// MinVersion is the lowest TLS version.
	MinVersion string `json:"min_version,omitempty" yaml:"min_version,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// MaxVersion is the highest TLS version.
	MaxVersion string `json:"max_version,omitempty" yaml:"max_version,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// ALPN lists ALPN protocols, separated by ",".
	ALPN string `json:"alpn,omitempty" yaml:"alpn,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// Ticket is the session ticket key.
	Ticket string `json:"ticket,omitempty" yaml:"ticket,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// Fallback is MOSN's fallback when the certificate fails to load.
	Fallback bool `json:"fall_back,omitempty" yaml:"fall_back,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// ExtendVerify configures a custom verifier, verbatim.
	ExtendVerify json.RawMessage `json:"extend_verify,omitempty" yaml:"extend_verify,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
	// SdsSource fetches certificates over SDS, verbatim.
	SdsSource json.RawMessage `json:"sds_source,omitempty" yaml:"sds_source,omitempty" ferry:"ignored" why:"read only when status is true, which ferry refuses for clusters until TLS to upstreams lands"`
}
