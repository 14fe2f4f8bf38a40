package router

import "time"

// HeaderMatchSpec is one request-header condition of a route.
type HeaderMatchSpec struct {
	// Name is the header name, matched case-insensitively.
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
}

// TableSpec describes a whole route table.
type TableSpec struct {
	// Name identifies the table, e.g. in a Registry.
	Name string
	// VirtualHosts lists the virtual hosts; their order does not matter.
	VirtualHosts []VirtualHostSpec
}
