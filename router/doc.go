// Package router owns ferry's immutable HTTP route table: virtual hosts
// selected by the Host header, then routes matched in order on the path and
// request headers, each ending in one action (forward to a cluster, answer
// directly, or redirect).
//
// The package takes its own spec types (TableSpec, VirtualHostSpec,
// RouteSpec, …). The config package is translated into them by the caller;
// router imports neither config nor any runtime package (upstream, conn,
// proxy, eventloop). Stdlib only.
//
// # Lifecycle
//
// NewTable validates a TableSpec and compiles it into a *Table: domains are
// lower-cased and indexed by kind (exact, suffix wildcard, prefix wildcard,
// catch-all), regexes are compiled, actions are deep-copied. A Table is never
// modified after NewTable returns. A Registry holds the current set of named
// tables and replaces the whole set at once.
//
// # Matching (Envoy semantics)
//
// Table.Match selects the virtual host first, in this order:
//
//  1. exact domain, case-insensitive: the Host value as received (with its
//     port), then the Host without its port. A domain configured with a port
//     ("example.com:8080") therefore matches only that port;
//  2. suffix wildcards ("*.example.com", "*-bar.example.com"), longest suffix
//     first; the Host with its port is tried first, then without it;
//  3. prefix wildcards ("www.*", "localhost:*"), longest prefix first, on the
//     Host with its port;
//  4. the catch-all "*". An empty Host selects only the catch-all.
//
// A wildcard never matches the empty string: "*.example.com" does not match
// ".example.com" nor "example.com". Hosts longer than 255 bytes cannot match
// an exact domain (domains are limited to 255 bytes); wildcards still apply.
//
// Within the selected virtual host, the first route whose path and header
// conditions all hold wins; Match returns nil when nothing matches. Path
// conditions ignore the query string and fragment.
//
// A CONNECT request has no path: MatchConnect selects the virtual host by
// its authority (host:port) the same way, then the first of its routes
// with a connect match (MatchSpec.Connect, Envoy's connect_matcher) whose
// header conditions hold. Those routes are kept apart from the others:
// Match never returns one and never looks at them, and a path route
// never matches a CONNECT. HasConnect says whether a table has any.
//
// # Cluster actions (action.go, headers.go)
//
// Beyond a fixed cluster, a cluster action may split traffic by weight
// (Route.WeightedCluster, given a random number by the caller so tests can
// fix it), take the cluster from a request header (Route.ClusterHeader),
// rewrite the path by regex (Route.RewritePath; the query is kept), set
// Host to the chosen host (Route.AutoHostRewrite) and carry a hash policy
// for consistent-hash balancers (Route.HashKey: header, cookie and client
// IP sources folded as Envoy does). All of it is compiled by NewTable into
// one optional block per route, so a route without these features costs
// its caller a nil check.
//
// Header mutations (request_headers_to_add/remove, response_headers_to_
// add/remove) exist at the route, virtual host and table levels. NewTable
// folds them, in Envoy's order (route, then virtual host, then table; each
// level removes, then adds; an add with append false first removes the
// name), into one HeaderOps per direction and route: the names to remove
// from the message and the fields to add. Values may use the variables
// listed by SupportedVars; any other %NAME% is an error naming the field.
// Host, the framing fields and the hop-by-hop fields cannot be mutated:
// ferry owns them.
//
// # Goroutines
//
// Tables and Routes are immutable: every method is safe from any goroutine,
// including gnet loops. Match does not allocate and never blocks. The
// Registry swaps its whole set of tables atomically (atomic.Pointer to an
// immutable map); readers never lock. A reader that obtained a *Table keeps
// a consistent table for as long as it holds it.
package router
