package router

import "time"

// HeaderMatchSpec is one request-header condition of a route.
type HeaderMatchSpec struct {
	// Name is the header name, matched case-insensitively, or the
	// pseudo-header ":method" (the request method, as Envoy matches it).
	Name string
	// Value is compared exactly (case-sensitive) with the header value, or,
	// when Regex is set, is an RE2 expression that must match the whole
	// value. An empty Value with Regex unset means "the header is present"
	// (Envoy's present_match).
	Value string
	// Regex makes Value an RE2 expression (full match).
	Regex bool
	// Invert negates the result. An absent header does not match, so an
	// inverted condition holds when the header is absent.
	Invert bool
}

// MatchSpec is the condition of a route. At most one of Prefix, Path and
// Regex may be set; with none, every path matches (the headers still must,
// as in MOSN's header-only routes), and Prefix "/" matches every
// origin-form path.
type MatchSpec struct {
	// Prefix matches paths that start with it. It must start with "/".
	Prefix string
	// Path matches exactly this path. It must start with "/".
	Path string
	// Regex is an RE2 expression that must match the whole path.
	Regex string
	// CaseInsensitive compares Prefix and Path with ASCII case folding and
	// compiles Regex with the (?i) flag (Envoy ignores it for regexes; we
	// do not).
	CaseInsensitive bool
	// Headers must all hold for the route to match.
	Headers []HeaderMatchSpec
	// QueryParameters must all hold for the route to match (Envoy's
	// query_parameters).
	QueryParameters []QueryParamMatchSpec
	// Connect makes the route match CONNECT requests, and only them
	// (Envoy's connect_matcher): Table.MatchConnect tries such routes,
	// Table.Match never returns one. Exclusive with Prefix, Path and
	// Regex; Headers still apply.
	Connect bool
}

// QueryParamMatchSpec is one condition on the request's query string, on
// the raw (not percent-decoded) value, as Envoy matches.
type QueryParamMatchSpec struct {
	// Name is the parameter name, compared exactly. Required.
	Name string
	// Value is compared exactly with the first value of the parameter, or,
	// when Regex is set, is an RE2 expression that must match it whole. An
	// empty Value with Regex unset means "the parameter is present".
	Value string
	// Regex makes Value an RE2 expression (full match).
	Regex bool
}

// ClusterAction forwards the request to an upstream cluster.
type ClusterAction struct {
	// Cluster names the upstream cluster. Required.
	Cluster string
	// Timeout bounds the whole upstream exchange; 0 means the proxy's
	// default. Must not be negative.
	Timeout time.Duration
	// PrefixRewrite replaces the matched Prefix (or the whole Path) before
	// forwarding; see Route.RewritePath. Not allowed with a Regex match.
	PrefixRewrite string
	// HostRewrite, if set, replaces the Host header sent upstream.
	HostRewrite string
	// AutoHostRewrite replaces the Host header sent upstream with the
	// chosen host's address. Exclusive with HostRewrite.
	AutoHostRewrite bool
	// WeightedClusters, when set, replace Cluster: each request goes to one
	// of them at random in proportion to the weights (Route.WeightedCluster).
	WeightedClusters []WeightedCluster
	// ClusterHeader, when set, replaces Cluster: the request header of that
	// name names the cluster (Route.ClusterHeader).
	ClusterHeader string
	// RegexRewrite rewrites the path sent upstream; see Route.RewritePath.
	// Exclusive with PrefixRewrite.
	RegexRewrite *RegexRewrite
	// HashPolicy makes the key of consistent-hash load balancers; see
	// Route.HashKey.
	HashPolicy []HashPolicy
	// Retry is the route's retry policy (retry.go), or nil for none.
	Retry *RetryPolicy
	// Upgrades override the listener's allowed HTTP/1.1 upgrades for this
	// route: a listed protocol is allowed or refused as it says.
	Upgrades []Upgrade
	// Mirrors each copy a share of the route's requests to another
	// cluster, fire and forget (MOSN's request_mirror_policies; the proxy's
	// mirror.go).
	Mirrors []Mirror
}

// Mirror is a route's request mirror policy: Percent of the requests
// (sampled per request) also go to Cluster, their Host suffixed with
// "-shadow", and the shadow's response is discarded.
type Mirror struct {
	// Cluster receives the copies. Required.
	Cluster string
	// Percent is the share of requests copied, 0 to 100.
	Percent uint32
}

// Upgrade allows or refuses one Upgrade protocol token (case-insensitive).
type Upgrade struct {
	Type    string
	Enabled bool
}

// WeightedCluster is one cluster of a weighted split.
type WeightedCluster struct {
	// Name is the cluster. Required.
	Name string
	// Weight is its relative share; the weights of a route must not sum to
	// zero. A zero weight takes no traffic.
	Weight uint32
}

// RegexRewrite replaces every match of Pattern in the path (without its
// query) by Substitution.
type RegexRewrite struct {
	// Pattern is an RE2 expression. Required.
	Pattern string
	// Substitution may refer to the pattern's groups as $1, ${1}, ${name}
	// (Go's regexp.Expand) or \1 (Envoy's and RE2's syntax); $$ is a
	// dollar sign. A reference to a group the pattern lacks is an error.
	Substitution string
}

// HashPolicy is one source of a request's hash key (Envoy's and MOSN's
// hash_policy entry). Exactly one field is set.
type HashPolicy struct {
	// Header hashes the value of this request header.
	Header string
	// Cookie hashes the value of this cookie (from the Cookie header).
	Cookie string
	// SourceIP hashes the client's IP address.
	SourceIP bool
}

// HeaderValue is a header to add. Value may hold variables (see Var).
type HeaderValue struct {
	// Name is the header name. Required, a token.
	Name string
	// Value is the value, with %VARIABLE% references expanded per request;
	// %% is a percent sign.
	Value string
	// Append adds a field beside existing ones of the same name; false
	// replaces them (Envoy's and MOSN's append, true when absent in
	// config).
	Append bool
}

// HeaderMutations are headers added to and removed from the request sent
// upstream and the response sent to the client. A route's mutations come
// from three levels, applied in Envoy's order: the route's, then its
// virtual host's, then the table's; each level removes, then adds. See
// Route.RequestHeaders.
type HeaderMutations struct {
	// RequestAdd are added to the upstream request.
	RequestAdd []HeaderValue
	// RequestRemove are removed from the upstream request.
	RequestRemove []string
	// ResponseAdd are added to the response.
	ResponseAdd []HeaderValue
	// ResponseRemove are removed from the response.
	ResponseRemove []string
}

// DirectResponse answers the request without going upstream.
type DirectResponse struct {
	// Status is the response status code, 200 to 599.
	Status int
	// Body is the response body, possibly empty.
	Body string
}

// Redirect answers with a redirect built by Route.RedirectLocation.
type Redirect struct {
	// Scheme replaces the request scheme ("https"), if set.
	Scheme string
	// Host replaces the request authority (host and optional port), if set.
	Host string
	// Path replaces the request path, if set. The request query is kept
	// unless Path contains a '?'. Exclusive with PrefixRewrite.
	Path string
	// PrefixRewrite replaces the matched Prefix (or the whole Path), keeping
	// the query. Not allowed with a Regex match.
	PrefixRewrite string
	// Code is 301, 302, 303, 307 or 308; 0 means 301.
	Code int
}

// RouteSpec is one route: a condition and exactly one action.
type RouteSpec struct {
	// Name is optional and used in errors and by Route.Name.
	Name string
	// Match is the route's condition.
	Match MatchSpec
	// Cluster forwards the request upstream.
	Cluster *ClusterAction
	// Direct answers locally.
	Direct *DirectResponse
	// Redirect answers with a redirect.
	Redirect *Redirect
	// Headers are the route's header mutations (cluster actions only).
	Headers HeaderMutations
}

// VirtualHostSpec groups routes under a set of domains.
type VirtualHostSpec struct {
	// Name is optional but must be unique within the table when set.
	Name string
	// Domains are exact names ("example.com", "example.com:8080",
	// "[::1]:8080"), suffix wildcards ("*.example.com", "*-bar.example.com"),
	// prefix wildcards ("www.*") or the catch-all "*". At least one; each
	// unique across the table (case-insensitively).
	Domains []string
	// Routes are tried in order.
	Routes []RouteSpec
	// MetricsID is the virtual host's label set in the per-loop metrics
	// (an internal/metrics ID, which the composition root resolves); the
	// proxy counts the virtual host's requests under it.
	MetricsID uint32
	// Headers are mutations for every route of the virtual host.
	Headers HeaderMutations
}

// TableSpec describes a whole route table.
type TableSpec struct {
	// Name identifies the table, e.g. in a Registry.
	Name string
	// VirtualHosts lists the virtual hosts; their order does not matter.
	VirtualHosts []VirtualHostSpec
	// Headers are mutations for every route of the table.
	Headers HeaderMutations
}
