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
// # Goroutines
//
// Tables and Routes are immutable: every method is safe from any goroutine,
// including gnet loops. Match does not allocate and never blocks. The
// Registry swaps its whole set of tables atomically (atomic.Pointer to an
// immutable map); readers never lock. A reader that obtained a *Table keeps
// a consistent table for as long as it holds it.
package router
