package config

import (
	"encoding/json"
	"fmt"
)

// Fields tagged `ferry:"unimplemented"` are defined by MOSN and accepted by
// ferry, which does not act on them yet: Warnings reports each one that is
// set (non-zero). Removing the tag is the one change needed when a feature
// lands. A tag `ferry:"as=NAME"` names a field that has no json key of its
// own (it is decoded from the sibling key NAME).

// Server is one entry of the top-level "servers" list: process-wide
// settings, the listeners and the route tables. MOSN (and ferry) run one
// server.
type Server struct {
	// ServerName names the server in MOSN's logs and admin output.
	ServerName string `json:"mosn_server_name,omitempty" yaml:"mosn_server_name,omitempty" ferry:"ignored" why:"a label in MOSN's logs and admin output"`
	// DefaultLogPath is where the default logger writes: a file path, or
	// "stdout" / "stderr".
	DefaultLogPath string `json:"default_log_path,omitempty" yaml:"default_log_path,omitempty"`
	// DefaultLogLevel is the default logger's level: TRACE, DEBUG, INFO,
	// WARN, ERROR or FATAL (case-insensitive; empty means INFO).
	DefaultLogLevel string `json:"default_log_level,omitempty" yaml:"default_log_level,omitempty"`
	// GlobalLogRoller configures MOSN's log rotation ("time=24" and the
	// like).
	GlobalLogRoller string `json:"global_log_roller,omitempty" yaml:"global_log_roller,omitempty" ferry:"ignored" why:"log rotation; ferry leaves rotation to logrotate or the service manager"`
	// UseNetpollMode selects MOSN's netpoll network mode; ferry always runs
	// on gnet's reactor.
	UseNetpollMode bool `json:"use_netpoll_mode,omitempty" yaml:"use_netpoll_mode,omitempty" ferry:"ignored" why:"ferry always runs on event loops, which is what netpoll mode asks for"`
	// GracefulTimeout bounds how long a graceful stop waits for in-flight
	// requests before closing connections. Zero selects ferry.timeouts.drain.
	GracefulTimeout Duration `json:"graceful_timeout,omitempty" yaml:"graceful_timeout,omitempty"`
	// OptimizeLocalWrite makes MOSN write to loopback peers from a separate
	// goroutine.
	OptimizeLocalWrite bool `json:"optimize_local_write,omitempty" yaml:"optimize_local_write,omitempty" ferry:"ignored" why:"a MOSN write-goroutine optimisation for loopback peers; ferry writes on the event loop"`
	// Processor sets GOMAXPROCS: a number, or "auto" for the container's CPU
	// quota. Zero leaves Go's default.
	Processor Processor `json:"processor,omitempty" yaml:"processor,omitempty" note:"a number sets GOMAXPROCS at start; auto keeps Go's default, which follows the CPU quota"`
	// Listeners are the downstream sockets and their filter chains.
	Listeners []Listener `json:"listeners,omitempty" yaml:"listeners,omitempty"`
	// Routers are the named route tables that proxy filters refer to by
	// router_config_name.
	Routers []RouterConfig `json:"routers,omitempty" yaml:"routers,omitempty"`
}

// Listener is a downstream socket with its filter chain.
type Listener struct {
	// Name identifies the listener in logs, stats and the admin API; names
	// must be unique.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Type is MOSN's "ingress" or "egress" label, used for stats scopes.
	Type string `json:"type,omitempty" yaml:"type,omitempty" ferry:"ignored" why:"MOSN's ingress/egress label for stats scopes"`
	// Address is the "host:port" to listen on, e.g. "0.0.0.0:2045". Port 0
	// picks a free port. Required.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// BindPort must be true (or absent): ferry binds every listener. MOSN's
	// unbound "virtual" listeners (bind_port false, used with
	// use_original_dst) are not implemented.
	BindPort *bool `json:"bind_port,omitempty" yaml:"bind_port,omitempty" note:"true (or absent) only: false is refused until original-destination hand-off lands; with allow_unimplemented the listener is not opened"`
	// Network is the socket family: "tcp" (the default). MOSN's "udp" and
	// "unix" are rejected by Validate.
	Network string `json:"network,omitempty" yaml:"network,omitempty" note:"tcp only; udp and unix are refused"`
	// UseOriginalDst hands connections redirected by iptables to the
	// listener owning their original destination.
	UseOriginalDst bool `json:"use_original_dst,omitempty" yaml:"use_original_dst,omitempty" ferry:"refused" why:"connections redirected by iptables would be served here instead of by the listener owning their original destination" until:"original-destination hand-off"`
	// AccessLogs lists access log sinks for this listener: one line per
	// request to each (docs/operations.md, "Access log").
	AccessLogs []AccessLog `json:"access_logs,omitempty" yaml:"access_logs,omitempty" note:"one line per request, written by one goroutine per file; a line that would wait for a slow file is dropped and counted; SIGUSR1 reopens the files (docs/operations.md)"`
	// ListenerFilters run on a connection before the filter chain (e.g.
	// original_dst).
	ListenerFilters []Filter `json:"listener_filters,omitempty" yaml:"listener_filters,omitempty" ferry:"refused" why:"listener filters (original_dst, …) would not run before the filter chain" until:"listener filters"`
	// FilterChains holds the network filters; MOSN and ferry use exactly one
	// chain per listener.
	FilterChains []FilterChain `json:"filter_chains,omitempty" yaml:"filter_chains,omitempty"`
	// StreamFilters are the L7 filters (fault injection, auth, …) run on
	// every request of this listener.
	StreamFilters []Filter `json:"stream_filters,omitempty" yaml:"stream_filters,omitempty" note:"the types registered in cmd/ferry/filters.go; any other type is refused (a request would pass without it)"`
	// Inspector sniffs TLS on a TLS listener and also accepts plain text.
	Inspector bool `json:"inspector,omitempty" yaml:"inspector,omitempty" note:"on a TLS listener, a connection that opens with no TLS handshake is served as plain text"`
	// ConnectionIdleTimeout closes a downstream connection idle this long;
	// it overrides ferry.timeouts.idle for this listener. Zero or absent
	// keeps the ferry default.
	ConnectionIdleTimeout *Duration `json:"connection_idle_timeout,omitempty" yaml:"connection_idle_timeout,omitempty" note:"overrides ferry.timeouts.idle for this listener"`
	// PerConnBufferLimitBytes is Envoy's per-connection buffer limit; MOSN
	// does not read it from config and ferry uses ferry.buffers.
	PerConnBufferLimitBytes uint32 `json:"per_connection_buffer_limit_bytes,omitempty" yaml:"per_connection_buffer_limit_bytes,omitempty" ferry:"ignored" why:"MOSN itself does not read it; ferry bounds connection buffers with ferry.buffers"`
	// TunnelListener marks MOSN's agent tunnel listener.
	TunnelListener bool `json:"tunnel_listener,omitempty" yaml:"tunnel_listener,omitempty" ferry:"refused" why:"MOSN's agent tunnel would not be served" until:"agent tunnels"`
	// LogPath is a field of old MOSN releases (per-listener log file), still
	// present in some published examples and ignored by MOSN today.
	LogPath string `json:"log_path,omitempty" yaml:"log_path,omitempty" ferry:"ignored" why:"a field of old MOSN releases, ignored by MOSN itself"`
	// LogLevel is a field of old MOSN releases, ignored as LogPath is.
	LogLevel string `json:"log_level,omitempty" yaml:"log_level,omitempty" ferry:"ignored" why:"a field of old MOSN releases, ignored by MOSN itself"`
	// HandOffRestoredDestinationConnections is the old MOSN spelling of
	// use_original_dst.
	HandOffRestoredDestinationConnections bool `json:"handoff_restoreddestination_connections,omitempty" yaml:"handoff_restoreddestination_connections,omitempty" ferry:"refused" why:"connections redirected by iptables would be served here instead of by the listener owning their original destination" until:"original-destination hand-off"`
}

// Binds reports whether the listener binds its address (bind_port absent
// or true). Any goroutine.
func (l *Listener) Binds() bool { return l.BindPort == nil || *l.BindPort }

// AccessLog is one access log sink.
type AccessLog struct {
	// Path is the file to append to ("stdout" and "stderr" work too).
	// Required. Listeners naming the same file share it.
	Path string `json:"log_path,omitempty" yaml:"log_path,omitempty" note:"required; a file (its directory must exist), stdout or stderr"`
	// Format is MOSN's access log format string of %variables%; empty
	// means MOSN's default format.
	Format string `json:"log_format,omitempty" yaml:"log_format,omitempty" note:"MOSN's %variable% names (an unknown name is an error listing the known ones); empty is MOSN's default format"`
	// Encoding is ferry's own key (MOSN has none and ignores it): "text"
	// (the default) writes Format as it is; "json" writes one JSON object
	// per line whose keys are Format's variable names.
	Encoding string `json:"log_encoding,omitempty" yaml:"log_encoding,omitempty" note:"ferry's own key: text (default) or json (one object per line keyed by the format's variable names)"`
}

// FilterChain is a listener's set of network filters with its optional TLS
// settings.
type FilterChain struct {
	// Match is MOSN's (unused) filter chain match expression.
	Match string `json:"match,omitempty" yaml:"match,omitempty" ferry:"ignored" why:"unused by MOSN"`
	// TLSContext configures TLS for the listener. At most one of
	// tls_context and tls_context_set may be set.
	TLSContext *TLSConfig `json:"tls_context,omitempty" yaml:"tls_context,omitempty" note:"see TLSConfig"`
	// TLSContextSet configures several certificates, chosen by SNI.
	TLSContextSet []TLSConfig `json:"tls_context_set,omitempty" yaml:"tls_context_set,omitempty" note:"see TLSConfig; every context has status true, or none"`
	// Filters are the network filters, in read order. The proxy filter is
	// typed; see NetworkFilter.
	Filters []NetworkFilter `json:"filters,omitempty" yaml:"filters,omitempty" note:"one proxy or tcp_proxy filter per chain; any other type not registered in cmd/ferry/filters.go is refused"`
}

// ProxyFilterType is the network filter type of ferry's (and MOSN's) L7
// proxy, whose config is decoded into ProxyConfig.
const ProxyFilterType = "proxy"

// NetworkFilter is one network filter of a filter chain. The config of a
// "proxy" filter is typed (Proxy); any other filter keeps its config as raw
// JSON for the component that owns that type.
type NetworkFilter struct {
	// Type names the filter: "proxy", "tcp_proxy", "connection_manager", ….
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Config is the filter's configuration, verbatim.
	Config json.RawMessage `json:"config,omitempty" yaml:"config,omitempty"`
	// Proxy is Config decoded when Type is "proxy"; nil otherwise.
	Proxy *ProxyConfig `json:"-" yaml:"-" ferry:"as=config"`
	// TCPProxy is Config decoded when Type is "tcp_proxy"; nil otherwise
	// (tcpproxy.go).
	TCPProxy *TCPProxyConfig `json:"-" yaml:"-" ferry:"as=config"`
}

// UnmarshalJSON decodes the filter and, for a proxy filter, its config.
// The caller owns the receiver.
func (f *NetworkFilter) UnmarshalJSON(b []byte) error {
	type plain NetworkFilter // no methods: avoids recursion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = NetworkFilter(p)
	f.Proxy, f.TCPProxy = nil, nil
	if len(f.Config) == 0 || string(f.Config) == "null" {
		return nil
	}
	if f.Type == TCPProxyFilterType {
		return f.decodeTCPProxy()
	}
	if f.Type != ProxyFilterType {
		return nil
	}
	f.Proxy = &ProxyConfig{}
	if err := json.Unmarshal(f.Config, f.Proxy); err != nil {
		return fmt.Errorf("proxy filter config: %w", err)
	}
	return nil
}

// Filter is a stream filter, listener filter or metrics sink: a type and
// its raw config.
type Filter struct {
	// Type names the filter or sink.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// GoPluginConfig loads the filter from a Go plugin (.so).
	GoPluginConfig *GoPluginConfig `json:"go_plugin_config,omitempty" yaml:"go_plugin_config,omitempty"`
	// Config is the filter's configuration, verbatim.
	Config json.RawMessage `json:"config,omitempty" yaml:"config,omitempty"`
}

// GoPluginConfig locates a MOSN stream filter built as a Go plugin.
type GoPluginConfig struct {
	// SoPath is the plugin's shared object.
	SoPath string `json:"so_path,omitempty" yaml:"so_path,omitempty"`
	// FactoryMethod is the exported constructor's name.
	FactoryMethod string `json:"factory_method,omitempty" yaml:"factory_method,omitempty"`
}

// ProxyConfig is the config of the "proxy" network filter.
type ProxyConfig struct {
	// Name labels the proxy in stats.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// DownstreamProtocol is the protocol spoken by clients: "Http1",
	// "Http2" (cleartext h2c with prior knowledge) or "Auto" (either, told
	// apart by the HTTP/2 connection preface; empty means Auto, as in
	// MOSN). Other protocols (X, bolt, …) are rejected by Validate.
	DownstreamProtocol string `json:"downstream_protocol,omitempty" yaml:"downstream_protocol,omitempty" note:"Http1, Http2 (h2c) and Auto; others are refused"`
	// UpstreamProtocol is the protocol spoken to upstream hosts: "Http1".
	// "Auto" and empty mean Http1 too (ferry's upstream side is HTTP/1.1);
	// "Http2" is cleartext HTTP/2 with prior knowledge (h2c).
	UpstreamProtocol string `json:"upstream_protocol,omitempty" yaml:"upstream_protocol,omitempty" note:"Http1 and Http2 (h2c with prior knowledge to a plain cluster, h2 by ALPN to a cluster with TLS); Auto and empty mean Http1"`
	// RouterConfigName names the route table (servers[].routers[]) this
	// proxy uses. Required.
	RouterConfigName string `json:"router_config_name,omitempty" yaml:"router_config_name,omitempty"`
	// ValidateClusters makes MOSN check route clusters at load; ferry always
	// does.
	ValidateClusters bool `json:"validate_clusters,omitempty" yaml:"validate_clusters,omitempty"`
	// ExtendConfig holds protocol-specific options (X protocol sub_protocol,
	// http2_use_stream, …); ferry ignores it.
	ExtendConfig json.RawMessage `json:"extend_config,omitempty" yaml:"extend_config,omitempty" ferry:"ignored" why:"protocol options of MOSN's X and Http2 codecs; ferry's HTTP codecs always stream, and X protocols are refused by downstream_protocol"`
	// UpgradeConfigs allow HTTP/1.1 upgrades (upgrade_configs.go).
	UpgradeConfigs []UpgradeConfig `json:"upgrade_configs,omitempty" yaml:"upgrade_configs,omitempty" note:"ferry's own key (Envoy's upgrade_configs): websocket is forwarded unless an entry disables it, other tokens only when enabled; after the upstream's 101 the connections are relayed byte for byte (idle timeout: the listener's)"`
}

// TLSConfig is MOSN's TLS context on a listener: ferry terminates TLS 1.2
// and 1.3 (docs/tls.md). Validate checks every field of a context with
// status true (certificates loaded, key matching, names MOSN accepts) and
// internal/app builds the listener from the same checks (BuildServerTLS).
// A cluster's context is UpstreamTLSConfig.
type TLSConfig struct {
	// Status enables TLS.
	Status bool `json:"status,omitempty" yaml:"status,omitempty" note:"listeners terminate TLS 1.2 and 1.3 (docs/tls.md); a cluster's status true is refused (UpstreamTLSConfig)"`
	// Type selects a TLS provider extension.
	Type string `json:"type,omitempty" yaml:"type,omitempty" ferry:"refused" why:"MOSN's TLS provider extension named by type would not be used" until:"TLS provider extensions"`
	// ServerName is the SNI this context answers, besides its
	// certificate's names.
	ServerName string `json:"server_name,omitempty" yaml:"server_name,omitempty" note:"with the certificate's names, picks the context of tls_context_set by SNI; the first context answers the rest"`
	// CACert is the PEM (or path) of the CA that verifies client
	// certificates.
	CACert string `json:"ca_cert,omitempty" yaml:"ca_cert,omitempty" note:"a file path or inline PEM; required by verify_client"`
	// CertChain is the PEM (or path) of the certificate chain.
	CertChain string `json:"cert_chain,omitempty" yaml:"cert_chain,omitempty" note:"a file path or inline PEM; a file is reloaded when it changes"`
	// PrivateKey is the PEM (or path) of the private key.
	PrivateKey string `json:"private_key,omitempty" yaml:"private_key,omitempty" note:"a file path or inline PEM, matching cert_chain; a file is reloaded when it changes"`
	// VerifyClient verifies client certificates against ca_cert.
	VerifyClient bool `json:"verify_client,omitempty" yaml:"verify_client,omitempty" note:"alone: a certificate is verified if given; with require_client_cert: required and verified"`
	// RequireClientCert rejects clients without a certificate.
	RequireClientCert bool `json:"require_client_cert,omitempty" yaml:"require_client_cert,omitempty" note:"needs verify_client: alone, MOSN asks for a certificate and never checks it, which ferry refuses"`
	// InsecureSkip skips verification of the server certificate.
	InsecureSkip bool `json:"insecure_skip,omitempty" yaml:"insecure_skip,omitempty" ferry:"ignored" why:"it skips verifying a server's certificate, which only a TLS client does"`
	// CipherSuites lists cipher suites, separated by ":".
	CipherSuites string `json:"cipher_suites,omitempty" yaml:"cipher_suites,omitempty" note:"MOSN's names (ECDHE-ECDSA-AES128-GCM-SHA256, …); TLS 1.3 suites are always crypto/tls's"`
	// EcdhCurves lists curves, separated by ",".
	EcdhCurves string `json:"ecdh_curves,omitempty" yaml:"ecdh_curves,omitempty" note:"x25519, p256, p384, p521"`
	// MinVersion is the lowest TLS version ("TLSv1_2").
	MinVersion string `json:"min_version,omitempty" yaml:"min_version,omitempty" note:"TLS_AUTO, TLSv1_2 or TLSv1_3 (TLS 1.0 and 1.1 are refused); default TLS 1.2"`
	// MaxVersion is the highest TLS version.
	MaxVersion string `json:"max_version,omitempty" yaml:"max_version,omitempty" note:"TLS_AUTO, TLSv1_2 or TLSv1_3; default TLS 1.3"`
	// ALPN lists ALPN protocols, separated by ",".
	ALPN string `json:"alpn,omitempty" yaml:"alpn,omitempty" note:"h2 and http/1.1, within what downstream_protocol speaks; absent: all it speaks (Auto: h2, http/1.1)"`
	// Ticket is the session ticket key.
	Ticket string `json:"ticket,omitempty" yaml:"ticket,omitempty" ferry:"ignored" why:"crypto/tls makes session ticket keys and rotates them itself; a ticket another process issued costs a full handshake"`
	// Fallback serves the listener without TLS when its certificate
	// fails to load.
	Fallback bool `json:"fall_back,omitempty" yaml:"fall_back,omitempty" ferry:"refused,strict" why:"a listener whose certificate failed to load would serve plain text" until:"TLS fallback"`
	// ExtendVerify configures a custom verifier, verbatim.
	ExtendVerify json.RawMessage `json:"extend_verify,omitempty" yaml:"extend_verify,omitempty" ferry:"refused" why:"the custom certificate verifier would not run" until:"TLS verifier extensions"`
	// SdsSource fetches certificates over SDS, verbatim.
	SdsSource json.RawMessage `json:"sds_source,omitempty" yaml:"sds_source,omitempty" ferry:"refused" why:"certificates would not be fetched from SDS" until:"SDS"`
}
