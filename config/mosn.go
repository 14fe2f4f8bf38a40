package config

import (
	"encoding/json"
	"net"
	"strconv"
)

// Admin is the admin API's listen address, in Envoy's bootstrap shape that
// MOSN reads.
type Admin struct {
	// Address is where the admin API listens.
	Address *AdminAddress `json:"address,omitempty" yaml:"address,omitempty"`
	// AccessLogPath is Envoy's admin access log (old MOSN read the whole
	// Envoy Admin message).
	AccessLogPath string `json:"access_log_path,omitempty" yaml:"access_log_path,omitempty" ferry:"ignored" why:"Envoy's admin access log; read with the admin API"`
	// ProfilePath is Envoy's CPU profile output path.
	ProfilePath string `json:"profile_path,omitempty" yaml:"profile_path,omitempty" ferry:"ignored" why:"Envoy's CPU profile path; read with the admin API"`
}

// AdminAddress wraps the socket address, as Envoy does.
type AdminAddress struct {
	// SocketAddress is the IP and port.
	SocketAddress SocketAddress `json:"socket_address" yaml:"socket_address"`
}

// SocketAddress is an IP address and port.
type SocketAddress struct {
	// Protocol is Envoy's "TCP"; ignored.
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty" ferry:"ignored" why:"Envoy's transport protocol; the admin API is served over TCP"`
	// Address is the IP to bind ("0.0.0.0"); empty means 127.0.0.1.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// PortValue is the port; 0 disables the admin API.
	PortValue uint32 `json:"port_value,omitempty" yaml:"port_value,omitempty"`
}

// PProf starts Go's pprof HTTP server.
type PProf struct {
	// Debug starts the server.
	Debug bool `json:"debug,omitempty" yaml:"debug,omitempty"`
	// Port is the server port; MOSN uses 9090 when zero.
	Port int `json:"port_value,omitempty" yaml:"port_value,omitempty"`
}

// Tracing configures distributed tracing.
type Tracing struct {
	// Enable turns tracing on.
	Enable bool `json:"enable,omitempty" yaml:"enable,omitempty"`
	// Tracer is MOSN's deprecated name for Driver.
	Tracer string `json:"tracer,omitempty" yaml:"tracer,omitempty"`
	// Driver names the tracer ("SOFATracer", "Zipkin", "SkyWalking", …).
	Driver string `json:"driver,omitempty" yaml:"driver,omitempty"`
	// Config is the driver's configuration, verbatim.
	Config json.RawMessage `json:"config,omitempty" yaml:"config,omitempty"`
}

// Metrics configures metric sinks.
type Metrics struct {
	// Sinks are the exporters with their config: "prometheus" only
	// (PrometheusSink, config/metrics.go).
	Sinks []Filter `json:"sinks,omitempty" yaml:"sinks,omitempty" note:"type prometheus with config port (required, not a listener's or the admin API's), endpoint (default /metrics), disable_collect_go, disable_collect_process: the families of the admin API's /metrics on every interface; percentiles are warned about (ferry exports histogram buckets); any other type is refused"`
	// StatsMatcher disables some metrics.
	StatsMatcher *StatsMatcher `json:"stats_matcher,omitempty" yaml:"stats_matcher,omitempty" ferry:"observability" why:"every metric is exported, including those it would leave out" until:"stats matcher"`
	// ShmZone names MOSN's shared-memory metrics zone.
	ShmZone string `json:"shm_zone,omitempty" yaml:"shm_zone,omitempty" ferry:"ignored" why:"MOSN's shared memory carries metrics across a hot upgrade; ferry keeps them in process memory and has no smooth upgrade"`
	// ShmSize is the zone size ("32MB" or a number), verbatim.
	ShmSize json.RawMessage `json:"shm_size,omitempty" yaml:"shm_size,omitempty" ferry:"ignored" why:"the size of MOSN's shared-memory metrics zone, which ferry does not use"`
	// FlushMosn exports MOSN's own process metrics.
	FlushMosn bool `json:"flush_mosn,omitempty" yaml:"flush_mosn,omitempty" ferry:"ignored" why:"ferry always exports its process and Go runtime metrics (process_*, go_*)"`
	// LazyFlush creates metrics only once written.
	LazyFlush bool `json:"lazy_flush,omitempty" yaml:"lazy_flush,omitempty" ferry:"ignored" why:"ferry creates every series when the configuration is built; lazy creation would only save memory"`
}

// StatsMatcher disables metrics by label or key.
type StatsMatcher struct {
	// RejectAll disables all metrics.
	RejectAll bool `json:"reject_all,omitempty" yaml:"reject_all,omitempty"`
	// ExclusionLabels disables metrics with these labels.
	ExclusionLabels []string `json:"exclusion_labels,omitempty" yaml:"exclusion_labels,omitempty"`
	// ExclusionKeys disables metrics with these keys.
	ExclusionKeys []string `json:"exclusion_keys,omitempty" yaml:"exclusion_keys,omitempty"`
}

// Plugin configures MOSN's plugin framework.
type Plugin struct {
	// LogBase is the plugins' log directory.
	LogBase string `json:"log_base,omitempty" yaml:"log_base,omitempty"`
}

// ThirdPartCodecs lists protocol codecs loaded at run time.
type ThirdPartCodecs struct {
	// Codecs are the codecs to load.
	Codecs []ThirdPartCodec `json:"codecs,omitempty" yaml:"codecs,omitempty"`
}

// ThirdPartCodec is one run-time-loaded codec.
type ThirdPartCodec struct {
	// Enable loads the codec.
	Enable bool `json:"enable,omitempty" yaml:"enable,omitempty"`
	// Type is "go-plugin" or "wasm".
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Path is the codec file.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// LoaderFuncName is the go-plugin loader symbol.
	LoaderFuncName string `json:"loader_func_name,omitempty" yaml:"loader_func_name,omitempty"`
	// Config is the codec's configuration, verbatim.
	Config json.RawMessage `json:"config,omitempty" yaml:"config,omitempty"`
}

// Extend is one entry of MOSN's free-form "extends" list.
type Extend struct {
	// Type names the extension.
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Config is its configuration, verbatim.
	Config json.RawMessage `json:"config,omitempty" yaml:"config,omitempty"`
}

// AdminAddress returns the admin API's listen address as host:port, or ""
// when the admin API is off (no admin block, or port 0). Any goroutine.
func (c *Config) AdminAddress() string {
	if c.Admin == nil || c.Admin.Address == nil || c.Admin.Address.SocketAddress.PortValue == 0 {
		return ""
	}
	sa := c.Admin.Address.SocketAddress
	host := sa.Address
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.FormatUint(uint64(sa.PortValue), 10))
}

// Redacted returns a copy of c safe to show (the admin API's config
// dump): private keys and session ticket keys are replaced by
// "[redacted]". Any goroutine.
func (c *Config) Redacted() *Config {
	b, err := json.Marshal(c)
	if err != nil {
		return &Config{}
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		return &Config{}
	}
	redact := func(t *TLSConfig) {
		if t == nil {
			return
		}
		if t.PrivateKey != "" {
			t.PrivateKey = redactedValue
		}
		if t.Ticket != "" {
			t.Ticket = redactedValue
		}
	}
	redactUpstream := func(t *UpstreamTLSConfig) {
		if t != nil && t.PrivateKey != "" {
			t.PrivateKey = redactedValue
		}
		if t != nil && t.Ticket != "" {
			t.Ticket = redactedValue
		}
	}
	redactUpstream(out.ClusterManager.TLSContext)
	for si := range out.Servers {
		for li := range out.Servers[si].Listeners {
			for ci := range out.Servers[si].Listeners[li].FilterChains {
				fc := &out.Servers[si].Listeners[li].FilterChains[ci]
				redact(fc.TLSContext)
				for i := range fc.TLSContextSet {
					redact(&fc.TLSContextSet[i])
				}
			}
		}
	}
	for i := range out.ClusterManager.Clusters {
		redactUpstream(out.ClusterManager.Clusters[i].TLSContext)
	}
	return &out
}

// redactedValue replaces a secret in Redacted.
const redactedValue = "[redacted]"
