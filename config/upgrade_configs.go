package config

import (
	"encoding/json"
	"strconv"
	"strings"
)

// UpgradeConfig allows or refuses one HTTP/1.1 Upgrade protocol (Envoy's
// upgrade_configs; MOSN has none), on a proxy filter or on a route.
//
// A listener forwards "websocket" unless one of its proxy filter's
// entries disables it, and any other token only when an entry enables it.
// A route's entry for a token overrides the listener's, either way
// (Envoy's precedence). A token nobody allows is dropped with the other
// hop-by-hop fields, and the request goes upstream as plain HTTP.
//
// upgrade_type CONNECT is Envoy's key for CONNECT termination (RFC 9110
// 9.3.6): a CONNECT request reaches only the routes whose match has a
// connect_matcher, and where CONNECT is enabled (the route's entry, else
// the proxy filter's) ferry dials the route's cluster — never the
// authority the client names, which would make ferry an open proxy —
// answers 200 and relays bytes both ways (proxy/connect.go), for HTTP/1.1
// and HTTP/2 clients. Elsewhere a CONNECT is answered 501.
type UpgradeConfig struct {
	// UpgradeType is the protocol token of the Upgrade field, compared
	// case-insensitively ("websocket"), or CONNECT.
	UpgradeType string `json:"upgrade_type,omitempty" yaml:"upgrade_type,omitempty" note:"an Upgrade protocol token, case-insensitive; CONNECT enables CONNECT termination for the routes with match.connect_matcher: ferry dials the route's cluster (never the client's authority: no open proxy), answers 200 and relays the bytes, for HTTP/1.1 and HTTP/2 clients"`
	// Enabled allows the upgrade; absent means true (Envoy's default).
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty" note:"absent means true"`
	// ConnectConfig is Envoy's CONNECT termination settings; only with
	// upgrade_type CONNECT.
	ConnectConfig *ConnectConfig `json:"connect_config,omitempty" yaml:"connect_config,omitempty" note:"upgrade_type CONNECT only; {} is what ferry does anyway"`
}

// ConnectConfig is Envoy's connect_config of a CONNECT upgrade_configs
// entry. ferry terminates CONNECT with neither of its options.
type ConnectConfig struct {
	// ProxyProtocolConfig would send a PROXY protocol header upstream
	// before the tunnelled bytes.
	ProxyProtocolConfig json.RawMessage `json:"proxy_protocol_config,omitempty" yaml:"proxy_protocol_config,omitempty" ferry:"refused" why:"the upstream would get the tunnelled bytes without the PROXY protocol header naming the client" until:"PROXY protocol towards upstreams"`
	// AllowPost would tunnel POST requests as CONNECT ones.
	AllowPost bool `json:"allow_post,omitempty" yaml:"allow_post,omitempty" ferry:"refused" why:"POST requests would be proxied as HTTP, not tunnelled" until:"POST tunnelling"`
}

// ConnectMatcher is Envoy's connect_matcher, an empty object: the route
// matches CONNECT requests, and only them (router.MatchSpec.Connect).
type ConnectMatcher struct{}

// On reports whether the entry allows its upgrade. Any goroutine.
func (u *UpgradeConfig) On() bool { return u.Enabled == nil || *u.Enabled }

// isConnect reports whether the entry is CONNECT's.
func (u *UpgradeConfig) isConnect() bool { return strings.EqualFold(u.UpgradeType, "connect") }

// upgradeConfigs checks a list of upgrade_configs at path.
func (v *validator) upgradeConfigs(ucs []UpgradeConfig, path string) {
	seen := map[string]bool{}
	for i, u := range ucs {
		p := index(path, i) + ".upgrade_type"
		t := strings.ToLower(u.UpgradeType)
		switch {
		case u.UpgradeType == "":
			v.p.add(p, "required")
		case !validToken(u.UpgradeType):
			v.p.add(p, "invalid protocol token "+strconv.Quote(u.UpgradeType))
		case seen[t]:
			v.p.add(p, strconv.Quote(u.UpgradeType)+" is listed twice")
		}
		if u.ConnectConfig != nil && !u.isConnect() {
			v.p.add(index(path, i)+".connect_config", "only for upgrade_type CONNECT, not "+strconv.Quote(u.UpgradeType))
		}
		seen[t] = true
	}
}

// connectRoute checks what CONNECT changes about a route at rp: a route
// with a connect_matcher has no path to match, rewrite or redirect, and
// sends no request head upstream (so no request header, retry or mirror
// setting applies); a CONNECT entry on any other route would never apply.
func (v *validator) connectRoute(r *Route, rp string) {
	m := &r.Match
	if m.ConnectMatcher == nil {
		if r.Route == nil {
			return
		}
		for i := range r.Route.UpgradeConfigs {
			if u := &r.Route.UpgradeConfigs[i]; u.isConnect() && u.On() {
				v.p.add(index(rp+".route.upgrade_configs", i), "CONNECT requests reach only routes whose match has connect_matcher; this route's has none")
			}
		}
		return
	}
	mp := rp + ".match"
	for _, f := range []struct {
		name string
		set  bool
	}{{"prefix", m.Prefix != ""}, {"path", m.Path != ""}, {"regex", m.Regex != ""}, {"query_parameters", len(m.QueryParameters) > 0}} {
		if f.set {
			v.p.add(mp+"."+f.name, "a CONNECT request has no path or query: connect_matcher takes no "+f.name)
		}
	}
	if r.Redirect != nil {
		v.p.add(rp+".redirect", "a CONNECT request has no path to redirect: a connect_matcher route forwards or answers directly")
	}
	if len(r.RequestMirrorPolicies) > 0 {
		v.p.add(rp+".request_mirror_policies", "a tunnel is not mirrored: CONNECT sends no request upstream to copy")
	}
	a := r.Route
	if a == nil {
		return
	}
	ap := rp + ".route"
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"regex_rewrite", a.RegexRewrite != nil}, {"host_rewrite", a.HostRewrite != ""},
		{"auto_host_rewrite", a.AutoHostRewrite}, {"retry_policy", a.RetryPolicy != nil},
		{"request_headers_to_add", len(a.RequestHeadersToAdd) > 0}, {"request_headers_to_remove", len(a.RequestHeadersToRemove) > 0},
		{"response_headers_to_add", len(a.ResponseHeadersToAdd) > 0}, {"response_headers_to_remove", len(a.ResponseHeadersToRemove) > 0},
	} {
		if f.set {
			v.p.add(ap+"."+f.name, "not honoured for CONNECT: ferry sends no request head upstream and answers the 200 itself (docs/operations.md, CONNECT)")
		}
	}
}
