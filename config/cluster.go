package config

// ClusterManager holds the upstream clusters.
type ClusterManager struct {
	// TLSContext is an old MOSN field: a TLS context shared by clusters.
	TLSContext *UpstreamTLSConfig `json:"tls_context,omitempty" yaml:"tls_context,omitempty" note:"applies to the clusters with cluster_manager_tls, and to no other"`
	// ClusterConfigPath is a directory of cluster files that MOSN reads and
	// rewrites at run time.
	ClusterConfigPath string `json:"clusters_configs,omitempty" yaml:"clusters_configs,omitempty" ferry:"refused" why:"clusters kept in that directory would not be loaded" until:"cluster directories"`
	// Clusters are the upstream clusters; names must be unique.
	Clusters []Cluster `json:"clusters,omitempty" yaml:"clusters,omitempty"`
	// AutoDiscovery lets MOSN create clusters from a service registry.
	AutoDiscovery bool `json:"auto_discovery,omitempty" yaml:"auto_discovery,omitempty" ferry:"refused" why:"clusters from the service registry would not be created" until:"service registries"`
	// RegistryUseHealthCheck takes health from the service registry.
	RegistryUseHealthCheck bool `json:"registry_use_health_check,omitempty" yaml:"registry_use_health_check,omitempty" ferry:"refused" why:"host health from the registry would be ignored: unhealthy hosts would stay in rotation" until:"service registries"`
}

// ClusterType is a cluster's discovery type.
type ClusterType string

// Cluster types. ferry implements SIMPLE and STATIC (a fixed host list),
// STRICT_DNS and ferry's LOGICAL_DNS (host names resolved and refreshed:
// upstream/dns.go); MOSN's others are rejected by Validate with the
// supported set.
const (
	ClusterSimple      ClusterType = "SIMPLE"
	ClusterStatic      ClusterType = "STATIC"
	ClusterDynamic     ClusterType = "DYNAMIC"
	ClusterEDS         ClusterType = "EDS"
	ClusterOriginalDst ClusterType = "ORIGINAL_DST"
	ClusterStrictDNS   ClusterType = "STRICT_DNS"
	// ClusterLogicalDNS is ferry's (Envoy's) LOGICAL_DNS: each host name
	// is one host, at the first address it resolves to.
	ClusterLogicalDNS ClusterType = "LOGICAL_DNS"
)

// LBType is a cluster's load balancing policy.
type LBType string

// Load balancer types, spelled as MOSN spells them (LB_RING_HASH is
// ferry's: MOSN has no ring hash). ferry implements LB_ROUNDROBIN,
// LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST, LB_MAGLEV,
// LB_LEAST_CONNECTION and LB_RING_HASH; MOSN's others are rejected by
// Validate with the supported set.
const (
	LBRoundRobin         LBType = "LB_ROUNDROBIN"
	LBRandom             LBType = "LB_RANDOM"
	LBWeightedRoundRobin LBType = "LB_WEIGHTED_ROUNDROBIN"
	LBLeastRequest       LBType = "LB_LEAST_REQUEST"
	LBMaglev             LBType = "LB_MAGLEV"
	LBOriginalDst        LBType = "LB_ORIGINAL_DST"
	LBLeastConnection    LBType = "LB_LEAST_CONNECTION"
	LBPeakEWMA           LBType = "LB_PEAKEWMA"
	LBRequestRoundRobin  LBType = "LB_REQUEST_ROUNDROBIN"
	LBRingHash           LBType = "LB_RING_HASH"
)

// Cluster is a named group of upstream hosts with its policies.
type Cluster struct {
	// Name identifies the cluster; routes refer to it. Required, unique.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Type is the discovery type; empty means SIMPLE.
	Type ClusterType `json:"type,omitempty" yaml:"type,omitempty" note:"SIMPLE, STATIC, STRICT_DNS and ferry's LOGICAL_DNS; MOSN's discovery types are refused"`
	// SubType is unused by MOSN.
	SubType string `json:"sub_type,omitempty" yaml:"sub_type,omitempty" ferry:"ignored" why:"unused by MOSN"`
	// LBType is the load balancing policy; empty means LB_ROUNDROBIN.
	LBType LBType `json:"lb_type,omitempty" yaml:"lb_type,omitempty" note:"LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST, LB_LEAST_CONNECTION, LB_MAGLEV and ferry's LB_RING_HASH (the hash balancers key on the route's hash_policy); MOSN's others are refused (round robin with allow_unimplemented)"`
	// MaxRequestPerConn caps requests sent on one upstream connection; zero
	// means unlimited.
	MaxRequestPerConn uint32 `json:"max_request_per_conn,omitempty" yaml:"max_request_per_conn,omitempty"`
	// ConnBufferLimitBytes is MOSN's upstream connection buffer limit;
	// ferry uses ferry.buffers.
	ConnBufferLimitBytes uint32 `json:"conn_buffer_limit_bytes,omitempty" yaml:"conn_buffer_limit_bytes,omitempty" note:"bounds the bytes queued toward one upstream connection before ferry stops reading the client feeding it"`
	// CircuitBreakers caps connections and requests to the cluster. As in
	// MOSN, it is a list of thresholds (not Envoy's {"thresholds": […]}).
	CircuitBreakers []Thresholds `json:"circuit_breakers,omitempty" yaml:"circuit_breakers,omitempty" note:"the first entry, counted per cluster across all event loops; an unset limit is no limit (ferry sheds nothing by default): max_connections queues requests past it, max_pending_requests and max_requests answer 503 (x-ferry-overloaded), max_retries skips the retry"`
	// HealthCheck configures active health checking.
	HealthCheck *HealthCheck `json:"health_check,omitempty" yaml:"health_check,omitempty" note:"Http1 and Tcp probes from the event loops; Http2 is refused"`
	// OutlierDetection ejects hosts whose requests fail in a row. ferry's
	// own block (MOSN has none), with Envoy's field names.
	OutlierDetection *OutlierDetection `json:"outlier_detection,omitempty" yaml:"outlier_detection,omitempty" note:"ferry's own key, Envoy's outlier_detection fields"`
	// CommonLBConfig is Envoy's common_lb_config; ferry reads its
	// healthy_panic_threshold (docs/operations.md, "Panic threshold").
	CommonLBConfig *CommonLBConfig `json:"common_lb_config,omitempty" yaml:"common_lb_config,omitempty" note:"ferry's own key, Envoy's field: healthy_panic_threshold only; MOSN has none"`
	// Spec subscribes the cluster to a service registry.
	Spec *ClusterSpec `json:"spec,omitempty" yaml:"spec,omitempty" ferry:"refused" why:"hosts from the service registry would not be subscribed" until:"service registries"`
	// LBSubsetConfig configures metadata subsets.
	LBSubsetConfig *LBSubsetConfig `json:"lb_subset_config,omitempty" yaml:"lb_subset_config,omitempty" ferry:"refused" why:"requests would be balanced over every host instead of the metadata subset" until:"subset load balancing"`
	// LBOriDstConfig configures the original destination balancer.
	LBOriDstConfig *LBOriDstConfig `json:"original_dst_lb_config,omitempty" yaml:"original_dst_lb_config,omitempty" ferry:"refused" why:"the original-destination balancer is not implemented" until:"original-destination balancing"`
	// ClusterManagerTLS uses cluster_manager.tls_context for this cluster.
	ClusterManagerTLS bool `json:"cluster_manager_tls,omitempty" yaml:"cluster_manager_tls,omitempty" note:"the cluster dials with cluster_manager.tls_context, which must have status true; refused with the cluster's own tls_context status true"`
	// TLSContext configures TLS to the hosts.
	TLSContext *UpstreamTLSConfig `json:"tls_context,omitempty" yaml:"tls_context,omitempty"`
	// Hosts are the upstream endpoints.
	Hosts []Host `json:"hosts,omitempty" yaml:"hosts,omitempty"`
	// ConnectTimeout bounds a dial; zero selects the upstream default.
	ConnectTimeout *Duration `json:"connect_timeout,omitempty" yaml:"connect_timeout,omitempty"`
	// IdleTimeout closes pooled upstream connections idle this long; zero
	// selects the upstream default.
	IdleTimeout *Duration `json:"idle_timeout,omitempty" yaml:"idle_timeout,omitempty"`
	// LBConfig tunes the least-request and peak-EWMA balancers.
	LBConfig *LBConfig `json:"lbconfig,omitempty" yaml:"lbconfig,omitempty" ferry:"refused" why:"least-request would compare 2 random hosts whatever choice_count says, and active_request_bias would be ignored" until:"load balancer tuning"`
	// DNSRefreshRate is the STRICT_DNS re-resolution period.
	DNSRefreshRate *Duration `json:"dns_refresh_rate,omitempty" yaml:"dns_refresh_rate,omitempty" note:"STRICT_DNS and LOGICAL_DNS: the time between resolutions, default 5s; a failed resolution keeps the last hosts"`
	// RespectDNSTTL uses record TTLs instead of dns_refresh_rate.
	RespectDNSTTL bool `json:"respect_dns_ttl,omitempty" yaml:"respect_dns_ttl,omitempty" ferry:"refused" why:"Go's resolver does not expose record TTLs: names would be refreshed every dns_refresh_rate instead" until:"TTL-aware DNS"`
	// DNSLookupFamily is "V4_ONLY" or "V6_ONLY".
	DNSLookupFamily string `json:"dns_lookup_family,omitempty" yaml:"dns_lookup_family,omitempty" note:"V4_ONLY, V6_ONLY, or AUTO and ALL (both families); V4_PREFERRED and V6_PREFERRED are refused"`
	// DNSResolvers overrides the resolver configuration.
	DNSResolvers *DNSResolverConfig `json:"dns_resolvers,omitempty" yaml:"dns_resolvers,omitempty" ferry:"refused" why:"names would be resolved by the system's resolver (/etc/resolv.conf) instead" until:"custom DNS resolvers"`
	// DNSResolverFile is a resolv.conf-style file.
	DNSResolverFile string `json:"dns_resolver_file,omitempty" yaml:"dns_resolver_file,omitempty" ferry:"refused" why:"names would be resolved by the system's resolver (/etc/resolv.conf) instead" until:"custom DNS resolvers"`
	// DNSResolverPort is the resolver port.
	DNSResolverPort string `json:"dns_resolver_port,omitempty" yaml:"dns_resolver_port,omitempty" ferry:"refused" why:"names would be resolved by the system's resolver (/etc/resolv.conf) instead" until:"custom DNS resolvers"`
	// SlowStart ramps up the weight of new hosts.
	SlowStart *SlowStart `json:"slow_start,omitempty" yaml:"slow_start,omitempty" ferry:"refused" why:"new hosts would take their full share at once instead of ramping up" until:"slow start"`
}

// Thresholds is one set of circuit breaker limits; zero means no limit.
type Thresholds struct {
	// MaxConnections caps upstream connections.
	MaxConnections uint32 `json:"max_connections,omitempty" yaml:"max_connections,omitempty"`
	// MaxPendingRequests caps requests waiting for a connection.
	MaxPendingRequests uint32 `json:"max_pending_requests,omitempty" yaml:"max_pending_requests,omitempty"`
	// MaxRequests caps requests in flight.
	MaxRequests uint32 `json:"max_requests,omitempty" yaml:"max_requests,omitempty"`
	// MaxRetries caps retries in flight.
	MaxRetries uint32 `json:"max_retries,omitempty" yaml:"max_retries,omitempty"`
}

// HealthCheck configures active health checks.
type HealthCheck struct {
	// Protocol is the checker's protocol: "Http1" or "Tcp" (any case);
	// "Http2" and MOSN's others are refused.
	Protocol string `json:"protocol,omitempty" yaml:"protocol,omitempty"`
	// Timeout bounds one check.
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Interval is the period between checks.
	Interval Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
	// IntervalJitter randomises the period.
	IntervalJitter Duration `json:"interval_jitter,omitempty" yaml:"interval_jitter,omitempty"`
	// HealthyThreshold is the number of passes that mark a host healthy.
	HealthyThreshold uint32 `json:"healthy_threshold,omitempty" yaml:"healthy_threshold,omitempty"`
	// UnhealthyThreshold is the number of failures that mark it unhealthy.
	UnhealthyThreshold uint32 `json:"unhealthy_threshold,omitempty" yaml:"unhealthy_threshold,omitempty"`
	// ServiceName labels the check.
	ServiceName string `json:"service_name,omitempty" yaml:"service_name,omitempty" ferry:"ignored" why:"a label of MOSN's health check events; ferry's results are per host in /clusters and the metrics"`
	// CheckConfig holds protocol-specific settings.
	CheckConfig *CheckConfig `json:"check_config,omitempty" yaml:"check_config,omitempty"`
	// CommonCallbacks names registered callbacks to run on state changes.
	CommonCallbacks []string `json:"common_callbacks,omitempty" yaml:"common_callbacks,omitempty" ferry:"refused" why:"the named callbacks would not run when a host's health changes" until:"health check callbacks"`
	// Method is the HTTP probe's method; empty means GET. ferry's own key.
	Method string `json:"method,omitempty" yaml:"method,omitempty" note:"ferry's own key"`
	// ExpectedStatuses are the passing statuses, ranges [start, end) as
	// Envoy's; empty means 200 only. ferry's own key.
	ExpectedStatuses []StatusRange `json:"expected_statuses,omitempty" yaml:"expected_statuses,omitempty" note:"ferry's own key"`
	// Host is the HTTP probe's Host header; empty means the host's
	// address. ferry's own key.
	Host string `json:"host,omitempty" yaml:"host,omitempty" note:"ferry's own key"`
}

// CheckConfig is MOSN's check_config of a health check.
type CheckConfig struct {
	// HTTPCheckConfig configures Http1 probes.
	HTTPCheckConfig *HTTPCheckConfig `json:"http_check_config,omitempty" yaml:"http_check_config,omitempty"`
}

// HTTPCheckConfig is MOSN's http_check_config.
type HTTPCheckConfig struct {
	// Path is the probe's request path; empty means "/".
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Port, when set, is probed instead of the host's port.
	Port uint32 `json:"port,omitempty" yaml:"port,omitempty"`
	// Timeout, when set, bounds an HTTP probe instead of the health
	// check's timeout.
	Timeout *Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// StatusRange is an HTTP status range [start, end), as Envoy's
// expected_statuses entries.
type StatusRange struct {
	// Start is the first status in the range.
	Start int `json:"start,omitempty" yaml:"start,omitempty"`
	// End is the first status past the range.
	End int `json:"end,omitempty" yaml:"end,omitempty"`
}

// CommonLBConfig is Envoy's common_lb_config block, of which ferry reads
// healthy_panic_threshold.
type CommonLBConfig struct {
	// HealthyPanicThreshold: while fewer than this percentage of the
	// cluster's hosts are healthy, requests are balanced across all of
	// them, health ignored (panic mode); 0 turns panic mode off. Absent,
	// panic mode starts only when no host is healthy (not Envoy's 50).
	HealthyPanicThreshold *Percent `json:"healthy_panic_threshold,omitempty" yaml:"healthy_panic_threshold,omitempty" note:"Envoy's {\"value\": 0..100}: panic mode below that healthy share; 0 never panics (no healthy host: 503); absent: only when no host is healthy, not Envoy's default of 50"`
}

// Percent is Envoy's type.v3.Percent.
type Percent struct {
	// Value is a percentage in 0..100.
	Value float64 `json:"value" yaml:"value"`
}

// OutlierDetection is ferry's outlier_detection block, with Envoy's field
// names. An absent threshold takes Envoy's default; 0 turns that detector
// off.
type OutlierDetection struct {
	// Consecutive5xx ejects after that many 5xx in a row; default 5.
	Consecutive5xx *uint32 `json:"consecutive_5xx,omitempty" yaml:"consecutive_5xx,omitempty"`
	// ConsecutiveGatewayFailure ejects after that many 502/503/504 in a
	// row; default 0 (off), as Envoy's enforcing default.
	ConsecutiveGatewayFailure *uint32 `json:"consecutive_gateway_failure,omitempty" yaml:"consecutive_gateway_failure,omitempty"`
	// ConsecutiveConnectFailure ejects after that many failed connects in
	// a row; default 5. ferry's name for Envoy's
	// consecutive_local_origin_failure (which also counts resets and
	// timeouts; ferry counts those as 502/504).
	ConsecutiveConnectFailure *uint32 `json:"consecutive_connect_failure,omitempty" yaml:"consecutive_connect_failure,omitempty"`
	// Interval is how fast the ejection multiplier decays; default 10s.
	Interval *Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
	// BaseEjectionTime is the first ejection's length; default 30s.
	BaseEjectionTime *Duration `json:"base_ejection_time,omitempty" yaml:"base_ejection_time,omitempty"`
	// MaxEjectionTime caps an ejection; default 300s or base_ejection_time
	// if larger.
	MaxEjectionTime *Duration `json:"max_ejection_time,omitempty" yaml:"max_ejection_time,omitempty"`
	// MaxEjectionPercent caps the share of hosts ejected at once; default
	// 10. One host may always be ejected.
	MaxEjectionPercent *uint32 `json:"max_ejection_percent,omitempty" yaml:"max_ejection_percent,omitempty"`
}

// Host is one upstream endpoint.
type Host struct {
	// Address is "host:port". Required.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// Hostname is the host's name, used by auto_host_rewrite.
	Hostname string `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	// Weight is the host's weight for weighted balancers; MOSN clamps it to
	// 1..128 and so does EffectiveWeight. Zero means 1.
	Weight uint32 `json:"weight,omitempty" yaml:"weight,omitempty"`
	// Metadata labels the host for subset load balancing.
	Metadata *Metadata `json:"metadata,omitempty" yaml:"metadata,omitempty" ferry:"ignored" why:"labels for subset balancing, which is refused; labels alone change nothing"`
	// TLSDisable turns TLS off for this host.
	TLSDisable bool `json:"tls_disable,omitempty" yaml:"tls_disable,omitempty" note:"this host is dialled in plain text though its cluster has TLS"`
}

// Host weight bounds, as in MOSN.
const (
	MinHostWeight = 1
	MaxHostWeight = 128
)

// EffectiveWeight returns the weight clamped to MinHostWeight..MaxHostWeight,
// as MOSN applies it. Any goroutine.
func (h *Host) EffectiveWeight() uint32 {
	return min(max(h.Weight, MinHostWeight), MaxHostWeight)
}

// ClusterSpec subscribes a cluster to a service registry.
type ClusterSpec struct {
	// Subscribes lists the subscriptions.
	Subscribes []SubscribeSpec `json:"subscribe,omitempty" yaml:"subscribe,omitempty"`
}

// SubscribeSpec is one registry subscription.
type SubscribeSpec struct {
	// Subscriber names the registry client.
	Subscriber string `json:"subscriber,omitempty" yaml:"subscriber,omitempty"`
	// ServiceName is the subscribed service.
	ServiceName string `json:"service_name,omitempty" yaml:"service_name,omitempty"`
}

// LBSubsetConfig configures subset load balancing.
type LBSubsetConfig struct {
	// FallBackPolicy picks the fallback when no subset matches.
	FallBackPolicy uint8 `json:"fall_back_policy,omitempty" yaml:"fall_back_policy,omitempty"`
	// DefaultSubset is the metadata of the fallback subset.
	DefaultSubset map[string]string `json:"default_subset,omitempty" yaml:"default_subset,omitempty"`
	// SubsetSelectors lists the metadata key sets that form subsets.
	SubsetSelectors [][]string `json:"subset_selectors,omitempty" yaml:"subset_selectors,omitempty"`
}

// LBOriDstConfig configures the original destination balancer.
type LBOriDstConfig struct {
	// UseHeader takes the destination from a header.
	UseHeader bool `json:"use_header,omitempty" yaml:"use_header,omitempty"`
	// HeaderName is that header.
	HeaderName string `json:"header_name,omitempty" yaml:"header_name,omitempty"`
}

// LBConfig tunes load balancers.
type LBConfig struct {
	// ChoiceCount is the number of random hosts the least-request balancer
	// compares; zero means 2.
	ChoiceCount uint32 `json:"choice_count,omitempty" yaml:"choice_count,omitempty"`
	// ActiveRequestBias weights active requests in weighted least-request.
	ActiveRequestBias float64 `json:"active_request_bias,omitempty" yaml:"active_request_bias,omitempty"`
}

// DNSResolverConfig is a resolver configuration.
type DNSResolverConfig struct {
	// Servers are the name servers.
	Servers []string `json:"servers,omitempty" yaml:"servers,omitempty"`
	// Search is the search domain list.
	Search []string `json:"search,omitempty" yaml:"search,omitempty"`
	// Port is the name server port.
	Port string `json:"port,omitempty" yaml:"port,omitempty"`
	// Ndots is resolv.conf's ndots.
	Ndots int `json:"ndots,omitempty" yaml:"ndots,omitempty"`
	// Timeout is resolv.conf's timeout, in seconds.
	Timeout int `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Attempts is resolv.conf's attempts.
	Attempts int `json:"attempts,omitempty" yaml:"attempts,omitempty"`
}

// SlowStart ramps up the weight of newly added hosts.
type SlowStart struct {
	// Mode is "duration" or "aggression".
	Mode string `json:"mode,omitempty" yaml:"mode,omitempty"`
	// SlowStartDuration is the ramp length.
	SlowStartDuration *Duration `json:"slow_start_duration,omitempty" yaml:"slow_start_duration,omitempty"`
	// Aggression shapes the ramp curve.
	Aggression float64 `json:"aggression,omitempty" yaml:"aggression,omitempty"`
	// MinWeightPercent is the starting share of the full weight.
	MinWeightPercent float64 `json:"min_weight_percent,omitempty" yaml:"min_weight_percent,omitempty"`
}
