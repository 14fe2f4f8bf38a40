package config

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RouterConfig is one named route table (an entry of servers[].routers).
type RouterConfig struct {
	// RouterConfigName names the table; proxy filters refer to it. Names
	// must be unique. Required.
	RouterConfigName string `json:"router_config_name,omitempty" yaml:"router_config_name,omitempty"`
	// VirtualHosts are matched by the request's Host against their domains.
	VirtualHosts []VirtualHost `json:"virtual_hosts,omitempty" yaml:"virtual_hosts,omitempty"`
	// RouterConfigPath is a directory of virtual host files that MOSN reads
	// and rewrites at run time.
	RouterConfigPath string `json:"router_configs,omitempty" yaml:"router_configs,omitempty" ferry:"refused" why:"virtual hosts kept in that directory would not be loaded" until:"router directories"`
	// RequestHeadersToAdd are added to every request routed by this table
	// to an upstream, after the route's and the virtual host's.
	RequestHeadersToAdd []HeaderValueOption `json:"request_headers_to_add,omitempty" yaml:"request_headers_to_add,omitempty" note:"applied after the route's and the virtual host's (Envoy's order); values may use the variables listed in docs/life-of-a-request.md"`
	// RequestHeadersToRemove are removed from every request sent upstream.
	// ferry's own key (Envoy's field; MOSN has none).
	RequestHeadersToRemove []string `json:"request_headers_to_remove,omitempty" yaml:"request_headers_to_remove,omitempty" note:"ferry's own key, Envoy's field"`
	// ResponseHeadersToAdd are added to every upstream response.
	ResponseHeadersToAdd []HeaderValueOption `json:"response_headers_to_add,omitempty" yaml:"response_headers_to_add,omitempty" note:"upstream responses only, not ferry's local replies"`
	// ResponseHeadersToRemove are removed from every upstream response.
	ResponseHeadersToRemove []string `json:"response_headers_to_remove,omitempty" yaml:"response_headers_to_remove,omitempty"`
}

// VirtualHost is a group of routes selected by the request's Host.
type VirtualHost struct {
	// Name identifies the virtual host in logs and stats.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Domains are matched against Host: exact names, "*.suffix" and
	// "prefix.*" wildcards, or "*" for any host. A domain may appear once
	// per table.
	Domains []string `json:"domains,omitempty" yaml:"domains,omitempty"`
	// Routers are tried in order; the first match wins.
	Routers []Route `json:"routers,omitempty" yaml:"routers,omitempty"`
	// RequireTLS is MOSN's unused TLS requirement.
	RequireTLS string `json:"require_tls,omitempty" yaml:"require_tls,omitempty" ferry:"ignored" why:"unused by MOSN"`
	// RequestHeadersToAdd are added to requests routed by this host, after
	// the route's.
	RequestHeadersToAdd []HeaderValueOption `json:"request_headers_to_add,omitempty" yaml:"request_headers_to_add,omitempty" note:"applied after the route's, before the router config's"`
	// RequestHeadersToRemove are removed from requests sent upstream.
	// ferry's own key (Envoy's field; MOSN has none).
	RequestHeadersToRemove []string `json:"request_headers_to_remove,omitempty" yaml:"request_headers_to_remove,omitempty" note:"ferry's own key, Envoy's field"`
	// ResponseHeadersToAdd are added to upstream responses.
	ResponseHeadersToAdd []HeaderValueOption `json:"response_headers_to_add,omitempty" yaml:"response_headers_to_add,omitempty" note:"upstream responses only, not ferry's local replies"`
	// ResponseHeadersToRemove are removed from upstream responses.
	ResponseHeadersToRemove []string `json:"response_headers_to_remove,omitempty" yaml:"response_headers_to_remove,omitempty"`
	// PerFilterConfig holds per-host stream filter settings, verbatim.
	PerFilterConfig json.RawMessage `json:"per_filter_config,omitempty" yaml:"per_filter_config,omitempty" ferry:"refused" why:"stream filters would run with their listener-level config on this route" until:"per-route filter config"`
}

// Route is one routing rule (MOSN calls it a "router"): a match and exactly
// one of route, direct_response or redirect.
type Route struct {
	// Match selects the requests this rule applies to.
	Match RouteMatch `json:"match" yaml:"match" note:"an empty match (no path, prefix or regex) matches every path; with several set, path wins, then prefix, then regex (MOSN's order)"`
	// Route forwards the request to a cluster.
	Route *RouteAction `json:"route,omitempty" yaml:"route,omitempty"`
	// DirectResponse answers locally with a fixed status and body.
	DirectResponse *DirectResponse `json:"direct_response,omitempty" yaml:"direct_response,omitempty"`
	// Redirect answers with a redirection.
	Redirect *Redirect `json:"redirect,omitempty" yaml:"redirect,omitempty"`
	// Metadata is MOSN's route metadata ({"filter_metadata":{"mosn.lb":{…}}}).
	Metadata *Metadata `json:"metadata,omitempty" yaml:"metadata,omitempty" ferry:"ignored" why:"read by MOSN stream filters; ferry runs none of those"`
	// PerFilterConfig holds per-route stream filter settings, verbatim.
	PerFilterConfig json.RawMessage `json:"per_filter_config,omitempty" yaml:"per_filter_config,omitempty" ferry:"refused" why:"stream filters would run with their listener-level config on this route" until:"per-route filter config"`
	// RequestMirrorPolicies copies a share of requests to another cluster.
	RequestMirrorPolicies MirrorPolicies `json:"request_mirror_policies,omitempty" yaml:"request_mirror_policies,omitempty" note:"MOSN's one {cluster, percent}, or a list of them (Envoy's): each copies its share of the route's requests to its cluster over HTTP/1.1, Host suffixed -shadow, the response discarded; never waits for or fails the request; bounded and counted (docs/operations.md, Request mirroring); refused on a listener with upstream_protocol Http2"`
}

// RouteMatch selects requests. Path matchers are tried as MOSN does: path,
// then prefix, then regex; all headers and variables must also match. An
// empty match matches every request.
type RouteMatch struct {
	// Prefix matches a path starting with it.
	Prefix string `json:"prefix,omitempty" yaml:"prefix,omitempty"`
	// Path matches the path exactly.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Regex matches the whole path against an RE2 expression.
	Regex string `json:"regex,omitempty" yaml:"regex,omitempty"`
	// Headers must all match.
	Headers []HeaderMatcher `json:"headers,omitempty" yaml:"headers,omitempty"`
	// QueryParameters must all match (ferry's, in MOSN's header-matcher
	// shape; Envoy's query_parameters).
	QueryParameters []QueryParameterMatcher `json:"query_parameters,omitempty" yaml:"query_parameters,omitempty" note:"ferry's: name, value (exact, or RE2 with regex: true; empty: present), on the raw query string; the first occurrence decides"`
	// ConnectMatcher makes the route match CONNECT requests, and only
	// them (Envoy's key; upgrade_configs.go).
	ConnectMatcher *ConnectMatcher `json:"connect_matcher,omitempty" yaml:"connect_matcher,omitempty" note:"Envoy's key, {}: the route matches CONNECT requests and only them (no path, prefix, regex or query_parameters with it); the tunnel needs an upgrade_configs entry CONNECT on the route or the proxy filter, else 501"`
	// Variables match MOSN variables (request context values).
	Variables []VariableMatcher `json:"variables,omitempty" yaml:"variables,omitempty" ferry:"refused" why:"the route would match without its variable conditions, more broadly than configured" until:"variable matchers"`
	// DslExpressions are MOSN's CEL match expressions, verbatim.
	DslExpressions json.RawMessage `json:"dsl_expressions,omitempty" yaml:"dsl_expressions,omitempty" ferry:"refused" why:"the route would match without its expressions, more broadly than configured" until:"DSL matchers"`
}

// HeaderMatcher matches one request header.
type HeaderMatcher struct {
	// Name is the header name (case-insensitive). Required.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Value is the exact value, or an RE2 expression when Regex is set.
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
	// Regex makes Value a regular expression.
	Regex bool `json:"regex,omitempty" yaml:"regex,omitempty"`
}

// QueryParameterMatcher matches one query parameter.
type QueryParameterMatcher struct {
	// Name is the parameter name. Required.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Value is the exact value, or an RE2 expression when Regex is set;
	// empty means present.
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
	// Regex makes Value a regular expression.
	Regex bool `json:"regex,omitempty" yaml:"regex,omitempty"`
}

// VariableMatcher matches one MOSN variable.
type VariableMatcher struct {
	// Name is the variable name.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Value is the exact value.
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
	// Regex is an RE2 expression the value must match.
	Regex string `json:"regex,omitempty" yaml:"regex,omitempty"`
	// Model combines this matcher with the next ("and" / "or").
	Model string `json:"model,omitempty" yaml:"model,omitempty"`
}

// RouteAction forwards a request upstream.
type RouteAction struct {
	// ClusterName is the upstream cluster. Required unless weighted_clusters
	// or cluster_header is set.
	ClusterName string `json:"cluster_name,omitempty" yaml:"cluster_name,omitempty"`
	// UpstreamProtocol overrides the proxy's upstream protocol for this
	// route ("Http1", "Auto" or empty).
	UpstreamProtocol string `json:"upstream_protocol,omitempty" yaml:"upstream_protocol,omitempty"`
	// ClusterHeader takes the cluster name from this request header; a
	// request without it, or naming no cluster, gets the no-cluster reply.
	// It takes precedence over cluster_name.
	ClusterHeader string `json:"cluster_header,omitempty" yaml:"cluster_header,omitempty" note:"a missing header or unknown cluster is the no-cluster local reply"`
	// WeightedClusters splits traffic between clusters by weight; when set,
	// it takes precedence over cluster_name and cluster_header (as in
	// MOSN).
	WeightedClusters []WeightedCluster `json:"weighted_clusters,omitempty" yaml:"weighted_clusters,omitempty" note:"each request picks a cluster at random by weight"`
	// HashPolicy makes the key of the consistent-hash balancers
	// (LB_MAGLEV, LB_RING_HASH); the sources present are combined, and a
	// request with none goes to a random host.
	HashPolicy []HashPolicy `json:"hash_policy,omitempty" yaml:"hash_policy,omitempty" note:"read by LB_MAGLEV and LB_RING_HASH clusters; cookies are read, never generated"`
	// MetadataMatch selects a host subset by metadata.
	MetadataMatch *Metadata `json:"metadata_match,omitempty" yaml:"metadata_match,omitempty" ferry:"refused" why:"requests would go to every host instead of the metadata subset" until:"subset load balancing"`
	// Timeout bounds the whole upstream exchange; zero means no route
	// timeout.
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// RetryPolicy retries failed upstream attempts.
	RetryPolicy *RetryPolicy `json:"retry_policy,omitempty" yaml:"retry_policy,omitempty" note:"retry_on true (connect failure, reset, 5xx) or Envoy's conditions; a retry goes to another host after a jittered back-off; bodies up to retry_buffer_limit_bytes are replayed; idempotent methods only unless retry_non_idempotent"`
	// PrefixRewrite replaces the matched prefix of the path.
	PrefixRewrite string `json:"prefix_rewrite,omitempty" yaml:"prefix_rewrite,omitempty"`
	// RegexRewrite rewrites the path with a regular expression.
	RegexRewrite *RegexRewrite `json:"regex_rewrite,omitempty" yaml:"regex_rewrite,omitempty" note:"the query is kept; substitution takes $1, ${name} or \\1"`
	// HostRewrite replaces the Host header.
	HostRewrite string `json:"host_rewrite,omitempty" yaml:"host_rewrite,omitempty"`
	// AutoHostRewrite sets Host to the chosen upstream host's address.
	AutoHostRewrite bool `json:"auto_host_rewrite,omitempty" yaml:"auto_host_rewrite,omitempty" note:"Host becomes the host's address (host:port) as configured"`
	// AutoHostRewriteHeader sets Host from this request header.
	AutoHostRewriteHeader string `json:"auto_host_rewrite_header,omitempty" yaml:"auto_host_rewrite_header,omitempty" ferry:"refused" why:"Host would not be rewritten from the header" until:"host rewriting"`
	// RequestHeadersToAdd are added to the upstream request, before the
	// virtual host's and the router config's.
	RequestHeadersToAdd []HeaderValueOption `json:"request_headers_to_add,omitempty" yaml:"request_headers_to_add,omitempty" note:"applied first, then the virtual host's, then the router config's (Envoy's order)"`
	// RequestHeadersToRemove are removed from the upstream request.
	// ferry's own key (Envoy's field; MOSN has none).
	RequestHeadersToRemove []string `json:"request_headers_to_remove,omitempty" yaml:"request_headers_to_remove,omitempty" note:"ferry's own key, Envoy's field"`
	// ResponseHeadersToAdd are added to the upstream response.
	ResponseHeadersToAdd []HeaderValueOption `json:"response_headers_to_add,omitempty" yaml:"response_headers_to_add,omitempty" note:"upstream responses only, not ferry's local replies"`
	// ResponseHeadersToRemove are removed from the upstream response.
	ResponseHeadersToRemove []string `json:"response_headers_to_remove,omitempty" yaml:"response_headers_to_remove,omitempty"`
	// UpgradeConfigs override the proxy filter's upgrade_configs for this
	// route (upgrade_configs.go).
	UpgradeConfigs []UpgradeConfig `json:"upgrade_configs,omitempty" yaml:"upgrade_configs,omitempty" note:"ferry's own key (Envoy's): an entry enables or disables its token on this route, whatever the proxy filter says"`
}

// WeightedCluster is one entry of weighted_clusters.
type WeightedCluster struct {
	// Cluster names the cluster and its weight.
	Cluster ClusterWeight `json:"cluster" yaml:"cluster"`
}

// ClusterWeight is a cluster and its share of traffic.
type ClusterWeight struct {
	// Name is the cluster. Required.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Weight is the relative share; the weights of a route must not all be
	// zero.
	Weight uint32 `json:"weight,omitempty" yaml:"weight,omitempty"`
	// MetadataMatch selects a host subset by metadata.
	MetadataMatch *Metadata `json:"metadata_match,omitempty" yaml:"metadata_match,omitempty" ferry:"refused" why:"requests would go to every host instead of the metadata subset" until:"subset load balancing"`
}

// HashPolicy picks what a consistent-hash load balancer hashes (MOSN's
// shape: header, cookie, source_ip). Exactly one member is set.
type HashPolicy struct {
	// Header hashes a request header.
	Header *HeaderHashPolicy `json:"header,omitempty" yaml:"header,omitempty"`
	// Cookie hashes a cookie (and may set it).
	Cookie *CookieHashPolicy `json:"cookie,omitempty" yaml:"cookie,omitempty"`
	// SourceIP hashes the client address.
	SourceIP *struct{} `json:"source_ip,omitempty" yaml:"source_ip,omitempty"`
}

// HeaderHashPolicy hashes the value of one header.
type HeaderHashPolicy struct {
	// Key is the header name.
	Key string `json:"key,omitempty" yaml:"key,omitempty"`
}

// CookieHashPolicy hashes a cookie.
type CookieHashPolicy struct {
	// Name is the cookie name.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Path is the cookie path when it is generated.
	Path string `json:"path,omitempty" yaml:"path,omitempty" ferry:"refused" why:"a client without the cookie would not get one, so its requests would not stick to a host" until:"hash cookie generation"`
	// TTL is the generated cookie's lifetime.
	TTL Duration `json:"ttl,omitempty" yaml:"ttl,omitempty" ferry:"refused" why:"a client without the cookie would not get one, so its requests would not stick to a host" until:"hash cookie generation"`
}

// RetryPolicy retries upstream attempts that failed. retry_on, retry_timeout
// and num_retries are MOSN's; the rest are ferry's own keys with Envoy's
// meaning.
type RetryPolicy struct {
	// RetryOn says which failures are retried: MOSN's boolean (true:
	// connect-failure, reset and 5xx) or a comma-separated list of Envoy's
	// conditions (RetryConditions).
	RetryOn RetryOn `json:"retry_on,omitempty" yaml:"retry_on,omitempty"`
	// RetryTimeout bounds each attempt (Envoy's per_try_timeout); zero
	// means the route timeout alone.
	RetryTimeout Duration `json:"retry_timeout,omitempty" yaml:"retry_timeout,omitempty"`
	// NumRetries is the number of retries after the first attempt; zero
	// means 1, as in Envoy.
	NumRetries uint32 `json:"num_retries,omitempty" yaml:"num_retries,omitempty"`
	// RetriableStatusCodes are the statuses retried under
	// retriable-status-codes.
	RetriableStatusCodes []uint32 `json:"retriable_status_codes,omitempty" yaml:"retriable_status_codes,omitempty" note:"ferry's own key, Envoy's field"`
	// RetryBackOff is the exponential back-off between attempts; unset,
	// Envoy's: base 25ms, max 10 times the base.
	RetryBackOff *RetryBackOff `json:"retry_back_off,omitempty" yaml:"retry_back_off,omitempty" note:"ferry's own key, Envoy's field"`
	// RetryBufferLimitBytes bounds the request body kept for a replay; a
	// request with a longer body is not retried. Zero means 64 KiB.
	RetryBufferLimitBytes uint32 `json:"retry_buffer_limit_bytes,omitempty" yaml:"retry_buffer_limit_bytes,omitempty" note:"ferry's own key (Envoy's per_request_buffer_limit_bytes)"`
	// RetryNonIdempotent retries POST, PATCH and other non-idempotent
	// methods too.
	RetryNonIdempotent bool `json:"retry_non_idempotent,omitempty" yaml:"retry_non_idempotent,omitempty" note:"ferry's own key"`
}

// RetryBackOff is Envoy's retry_back_off.
type RetryBackOff struct {
	// BaseInterval is the first back-off's mean; required, above zero.
	BaseInterval Duration `json:"base_interval,omitempty" yaml:"base_interval,omitempty"`
	// MaxInterval caps a back-off; zero means 10 times BaseInterval.
	MaxInterval Duration `json:"max_interval,omitempty" yaml:"max_interval,omitempty"`
}

// RetryOn is retry_on: MOSN's boolean, kept as "true" or "false", or a
// comma-separated list of Envoy's conditions (RetryConditions).
type RetryOn string

// RetryConditions are the retry_on conditions ferry implements, Envoy's
// names. "true" means connect-failure, reset and 5xx.
//
//nolint:gochecknoglobals // read-only
var RetryConditions = []string{"5xx", "gateway-error", "connect-failure", "reset", "retriable-status-codes"}

// Conditions returns the conditions retry_on names, "true" expanded; nil
// for false or empty. Any goroutine.
func (r RetryOn) Conditions() []string {
	switch r {
	case "", "false":
		return nil
	case "true":
		return []string{"connect-failure", "reset", "5xx"}
	}
	var out []string
	for _, c := range strings.Split(string(r), ",") {
		out = append(out, strings.TrimSpace(c))
	}
	return out
}

// MarshalJSON writes the boolean forms as JSON booleans. Any goroutine.
func (r RetryOn) MarshalJSON() ([]byte, error) {
	if r == "true" || r == "false" {
		return []byte(r), nil
	}
	return json.Marshal(string(r))
}

// UnmarshalJSON reads a boolean or a string. The caller owns the receiver.
func (r *RetryOn) UnmarshalJSON(b []byte) error {
	switch s := strings.TrimSpace(string(b)); s {
	case "null":
		return nil
	case "true", "false":
		*r = RetryOn(s)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("config: retry_on: want true, false or a comma-separated list of conditions: %w", err)
	}
	*r = RetryOn(str)
	return nil
}

// RegexRewrite rewrites the path: every match of Pattern is replaced by
// Substitution (with $1-style references).
type RegexRewrite struct {
	// Pattern is the expression to match.
	Pattern RegexPattern `json:"pattern" yaml:"pattern"`
	// Substitution replaces each match.
	Substitution string `json:"substitution,omitempty" yaml:"substitution,omitempty"`
}

// RegexPattern is Envoy's RegexMatcher shape, as MOSN copies it.
type RegexPattern struct {
	// GoogleRe2 holds RE2 engine options; ferry's RE2 (Go regexp) needs
	// none.
	GoogleRe2 *GoogleRe2 `json:"google_re2,omitempty" yaml:"google_re2,omitempty"`
	// Regex is the RE2 expression. Required.
	Regex string `json:"regex,omitempty" yaml:"regex,omitempty"`
}

// GoogleRe2 holds Envoy's RE2 engine options.
type GoogleRe2 struct {
	// MaxProgramSize bounds the compiled program size.
	MaxProgramSize uint32 `json:"max_program_size,omitempty" yaml:"max_program_size,omitempty" ferry:"ignored" why:"Go's RE2 engine takes no program-size limit; the expression is compiled once, when the config loads"`
}

// DirectResponse answers a request locally.
type DirectResponse struct {
	// StatusCode is the response status, 100..599.
	StatusCode int `json:"status,omitempty" yaml:"status,omitempty"`
	// Body is the response body.
	Body string `json:"body,omitempty" yaml:"body,omitempty"`
}

// Redirect answers a request with a redirection built from the request's
// URL with the parts below replaced.
type Redirect struct {
	// ResponseCode is 301, 302, 303, 307 or 308; zero means 301 (MOSN's
	// default).
	ResponseCode int `json:"response_code,omitempty" yaml:"response_code,omitempty"`
	// PathRedirect replaces the whole path.
	PathRedirect string `json:"path_redirect,omitempty" yaml:"path_redirect,omitempty"`
	// HostRedirect replaces the host.
	HostRedirect string `json:"host_redirect,omitempty" yaml:"host_redirect,omitempty"`
	// SchemeRedirect replaces the scheme ("https").
	SchemeRedirect string `json:"scheme_redirect,omitempty" yaml:"scheme_redirect,omitempty"`
	// PrefixRewrite replaces the matched prefix of the path (ferry
	// extension, as in Envoy); exclusive with path_redirect.
	PrefixRewrite string `json:"prefix_rewrite,omitempty" yaml:"prefix_rewrite,omitempty"`
}

// HeaderValueOption is a header to add.
type HeaderValueOption struct {
	// Header is the name and value.
	Header *HeaderValue `json:"header,omitempty" yaml:"header,omitempty"`
	// Append adds a value instead of replacing existing ones; absent means
	// true, as in Envoy.
	Append *bool `json:"append,omitempty" yaml:"append,omitempty"`
}

// HeaderValue is a header name and value.
type HeaderValue struct {
	// Key is the header name. Required.
	Key string `json:"key,omitempty" yaml:"key,omitempty"`
	// Value is the header value.
	Value string `json:"value,omitempty" yaml:"value,omitempty"`
}

// MirrorPolicies is request_mirror_policies: MOSN's one policy (a JSON
// object) or a list of them (Envoy's shape). Errors name an entry by its
// index either way.
type MirrorPolicies []MirrorPolicy

// UnmarshalJSON reads an object or a list. The caller owns the receiver.
func (m *MirrorPolicies) UnmarshalJSON(b []byte) error {
	if s := strings.TrimSpace(string(b)); strings.HasPrefix(s, "{") {
		var one MirrorPolicy
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*m = MirrorPolicies{one}
		return nil
	}
	var list []MirrorPolicy
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*m = list
	return nil
}

// MarshalJSON writes one policy as MOSN's object, several as a list. Any
// goroutine.
func (m MirrorPolicies) MarshalJSON() ([]byte, error) {
	if len(m) == 1 {
		return json.Marshal(m[0])
	}
	return json.Marshal([]MirrorPolicy(m))
}

// MirrorPolicy copies requests to another cluster (an entry of
// request_mirror_policies).
type MirrorPolicy struct {
	// Cluster receives the copies. Required, a cluster of the config.
	Cluster string `json:"cluster,omitempty" yaml:"cluster,omitempty"`
	// Percent is the share of requests copied, 0 to 100, drawn per
	// request.
	Percent uint32 `json:"percent,omitempty" yaml:"percent,omitempty" note:"0..100, drawn per request; 0 copies none"`
	// TraceSampled copies only sampled requests.
	TraceSampled bool `json:"trace_sampled,omitempty" yaml:"trace_sampled,omitempty" ferry:"refused" why:"ferry samples no traces: requests would be copied whatever their trace's sampling" until:"tracing"`
}

// Metadata is MOSN's metadata block: {"filter_metadata": {"mosn.lb": {…}}}.
type Metadata struct {
	// FilterMetadata holds the metadata namespaces.
	FilterMetadata FilterMetadata `json:"filter_metadata" yaml:"filter_metadata"`
}

// FilterMetadata holds MOSN's one metadata namespace.
type FilterMetadata struct {
	// MosnLB is the load balancer's key/value metadata. MOSN keeps string
	// values only and drops the rest; so does ferry.
	MosnLB map[string]any `json:"mosn.lb,omitempty" yaml:"mosn.lb,omitempty"`
}
