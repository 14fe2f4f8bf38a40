// Package config owns ferry's typed configuration: MOSN's v2 JSON/YAML
// schema (servers, listeners, routers, clusters, admin, …) plus ferry's own
// top-level "ferry" extension block, the file loader, defaults and
// validation.
//
// Lifecycle, as in Caddy: Load or Parse → Validate → (the runtime packages)
// Build. Parse reads JSON or YAML into a generic tree, checks that tree
// against the Go types by their json tags (every unknown field and every
// type mismatch is reported with its full path, all at once, in a
// *ValidationError), decodes it and applies defaults. Validate then checks
// the meaning: references between listeners, routers and clusters, regular
// expressions, status codes, limits, and the protocols, load balancers and
// cluster types ferry implements.
//
// Fail closed: every MOSN field is implemented, ignored (harmless, with the
// reason), observability (a warning until implemented) or refused (it would
// change how traffic is accepted, secured, routed, limited or answered, so
// Validate reports it as an error naming its path and what would go
// wrong), declared by struct tags (compat.go) from which
// docs/mosn-compat.md is generated. ferry.compat.allow_unimplemented turns
// refusals into Warnings, except a listener's or a cluster's TLS
// fall_back: nothing meant to be TLS is sent or served as plain text.
// Listeners terminate TLS and clusters dial TLS to their hosts
// (validate_tls.go: ListenerTLS, ClusterTLS; docs/tls.md). The runtime build
// (internal/app) refuses the same way what only it can judge (filter types
// nobody registered, what the router rejects), and `ferry validate` runs
// that build, so validate and start agree.
//
// Compatibility with MOSN: field names, nesting and value formats follow
// mosn.io/mosn/pkg/config/v2. Like encoding/json (and so MOSN), object keys
// match field names case-insensitively; ferry reports such keys as
// warnings. Unlike MOSN, keys that no version of MOSN and no part of ferry
// defines are errors instead of being silently dropped. Durations are
// strings in time.ParseDuration syntax ("15s", "500ms"); the bare number 0
// is also accepted because MOSN accepts it.
//
// Goroutines: everything here runs on the control goroutine at start-up or
// reload. A *Config is not safe for concurrent mutation; once validated it
// is treated as immutable and may be read from any goroutine. Reflection is
// used at load time only, never on the data path.
//
// Imports: the standard library and gopkg.in/yaml.v3 only. It must not
// import any runtime package (eventloop, conn, proxy, router, upstream, …).
package config
