package config

import (
	"errors"
	"net"
	"reflect"
	"strconv"
	"strings"
)

// Protocol names, spelled as MOSN spells them.
const (
	protocolHTTP1 = "Http1"
	protocolHTTP2 = "Http2"
	protocolAuto  = "Auto"
)

// Validate checks the meaning of the configuration and returns a
// *ValidationError listing every problem, each with its path, or nil. It
// checks references (proxy → router, route → cluster), uniqueness (listener
// names and addresses, router and cluster names, domains), addresses,
// regular expressions, status codes, the protocols, cluster types and load
// balancers ferry implements, the ferry block (with defaults applied), that
// no duration is negative, and that no setting ferry does not implement
// would change how traffic is served (see compat.go and
// docs/mosn-compat.md). It does not modify c. Any goroutine.
func (c *Config) Validate() error {
	v := validator{c: c}
	v.collectNames()
	v.servers()
	v.clusters()
	v.h2UpstreamGaps() // validate_h2up.go
	v.ferry(c.Ferry.WithDefaults())
	v.durations(reflect.ValueOf(c).Elem(), "")
	v.admin()
	v.metrics()
	errs, _ := compatFindings(c)
	v.p.list = append(v.p.list, errs...)
	sortBySchema(v.p.list)
	return v.p.err()
}

// validator carries the state of one Validate call.
type validator struct {
	// c is the config under validation.
	c *Config
	// p collects the problems.
	p problems
	// routerNames maps each router_config_name to its first path.
	routerNames map[string]string
	// clusterNames maps each cluster name to its first path.
	clusterNames map[string]string
}

// collectNames indexes routers and clusters by name, first occurrence
// first, so that references can be checked wherever they appear.
func (v *validator) collectNames() {
	v.routerNames = make(map[string]string)
	for si := range v.c.Servers {
		for ri, r := range v.c.Servers[si].Routers {
			p := index(index("servers", si)+".routers", ri) + ".router_config_name"
			if _, dup := v.routerNames[r.RouterConfigName]; !dup && r.RouterConfigName != "" {
				v.routerNames[r.RouterConfigName] = p
			}
		}
	}
	v.clusterNames = make(map[string]string)
	for ci, cl := range v.c.ClusterManager.Clusters {
		p := index("cluster_manager.clusters", ci) + ".name"
		if _, dup := v.clusterNames[cl.Name]; !dup && cl.Name != "" {
			v.clusterNames[cl.Name] = p
		}
	}
}

// indexed reports an empty name, or a name whose first occurrence (in
// names) is not at path.
func (v *validator) indexed(names map[string]string, name, path, what string) {
	switch first := names[name]; {
	case name == "":
		v.p.add(path, "required")
	case first != path:
		v.p.add(path, "duplicate "+what+" "+strconv.Quote(name)+" (also "+first+")")
	}
}

// unique records name at path in seen, reporting an empty or repeated name.
func (v *validator) unique(seen map[string]string, name, path, what string) {
	if name == "" {
		v.p.add(path, "required")
		return
	}
	if first, dup := seen[name]; dup {
		v.p.add(path, "duplicate "+what+" "+strconv.Quote(name)+" (also "+first+")")
		return
	}
	seen[name] = path
}

// servers checks the server list and each server.
func (v *validator) servers() {
	switch n := len(v.c.Servers); {
	case n == 0:
		v.p.add("servers", "at least one server is required")
	case n > 1:
		v.p.add("servers", "ferry runs one server, as MOSN does; got "+strconv.Itoa(n))
	}
	names := make(map[string]string)
	addrs := make(map[string]string)
	for si := range v.c.Servers {
		s := &v.c.Servers[si]
		sp := index("servers", si)
		if !validLogLevel(s.DefaultLogLevel) {
			v.p.add(sp+".default_log_level", "unknown log level "+strconv.Quote(s.DefaultLogLevel)+
				"; want TRACE, DEBUG, INFO, WARN, ERROR or FATAL")
		}
		if len(s.Listeners) == 0 {
			v.p.add(sp+".listeners", "at least one listener is required")
		}
		for li := range s.Listeners {
			v.listener(&s.Listeners[li], index(sp+".listeners", li), names, addrs)
		}
		for ri := range s.Routers {
			v.router(&s.Routers[ri], index(sp+".routers", ri))
		}
	}
}

// validLogLevel reports whether l names a MOSN log level.
func validLogLevel(l string) bool {
	switch strings.ToUpper(l) {
	case "", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL":
		return true
	}
	return false
}

// listener checks one listener; names and addrs index earlier listeners.
func (v *validator) listener(l *Listener, lp string, names, addrs map[string]string) {
	if l.Name != "" {
		v.unique(names, l.Name, lp+".name", "listener name")
	}
	if key, ok := v.listenAddress(l.Address, lp+".address"); ok && key != "" {
		v.unique(addrs, key, lp+".address", "listener address")
	}
	if !l.Binds() && !v.c.Ferry.Compat.AllowUnimplemented {
		v.p.add(lp+".bind_port", RefusalMsg(UnboundListenerWhy, "original-destination hand-off"))
	}
	if n := strings.ToLower(l.Network); n != "" && n != "tcp" {
		v.p.add(lp+".network", "unsupported network "+strconv.Quote(l.Network)+"; ferry supports tcp")
	}
	switch len(l.FilterChains) {
	case 0:
		v.p.add(lp+".filter_chains", "a filter chain is required")
	case 1:
	default:
		v.p.add(lp+".filter_chains", "ferry uses one filter chain per listener, as MOSN does; got "+
			strconv.Itoa(len(l.FilterChains)))
	}
	for ci := range l.FilterChains {
		v.filterChain(&l.FilterChains[ci], index(lp+".filter_chains", ci))
	}
	ListenerTLS(l, lp, v.p.add) // validate_tls.go
	for ai, al := range l.AccessLogs {
		v.accessLog(&al, index(lp+".access_logs", ai))
	}
}

// accessLog checks one access log's fields that config can judge alone;
// log_format's variables and log_path's file are checked by the build
// (internal/app/accesslog.go), which validate runs too.
func (v *validator) accessLog(al *AccessLog, ap string) {
	if al.Path == "" {
		v.p.add(ap+".log_path", "required: a file, stdout or stderr")
	} else if strings.ContainsFunc(al.Path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		v.p.add(ap+".log_path", "control character in "+strconv.Quote(al.Path))
	}
	switch al.Encoding {
	case "", "text", "json":
	default:
		v.p.add(ap+".log_encoding", "unknown encoding "+strconv.Quote(al.Encoding)+"; want text or json")
	}
}

// listenAddress checks a listener address and returns its key for
// duplicate detection ("" for port 0, which never collides).
func (v *validator) listenAddress(addr, path string) (string, bool) {
	if addr == "" {
		v.p.add(path, "required")
		return "", false
	}
	host, port, ok := v.hostPort(addr, path)
	if !ok {
		return "", false
	}
	if port == 0 {
		return "", true
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), true
}

// hostPort splits "host:port" and checks the port, reporting problems at
// path.
func (v *validator) hostPort(addr, path string) (string, int, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			v.p.add(path, "missing port")
		} else {
			v.p.add(path, "invalid address "+strconv.Quote(addr)+": want host:port")
		}
		return "", 0, false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		v.p.add(path, "invalid port "+strconv.Quote(port))
		return "", 0, false
	}
	return host, n, true
}

// filterChain checks TLS exclusivity and the network filters.
func (v *validator) filterChain(fc *FilterChain, fp string) {
	if fc.TLSContext != nil && len(fc.TLSContextSet) > 0 {
		v.p.add(fp, "tls_context and tls_context_set are mutually exclusive")
	}
	proxies := 0
	for i := range fc.Filters {
		f := &fc.Filters[i]
		if f.Type != ProxyFilterType && f.Type != TCPProxyFilterType {
			continue
		}
		proxies++
		p := index(fp+".filters", i)
		if proxies > 1 {
			v.p.add(p, `a filter chain holds one "proxy" or "tcp_proxy" filter, not both nor two`)
			continue
		}
		if f.Type == TCPProxyFilterType {
			v.tcpProxy(f.TCPProxy, p+".config") // tcpproxy.go
			continue
		}
		v.proxy(f.Proxy, p+".config")
	}
	if proxies == 0 {
		v.p.add(fp+".filters", `a "proxy" or "tcp_proxy" filter is required (the network filters ferry implements)`)
	}
}

// proxy checks a proxy filter's config.
func (v *validator) proxy(pc *ProxyConfig, pp string) {
	if pc == nil {
		v.p.add(pp, "required")
		return
	}
	v.downstreamProtocol(pc.DownstreamProtocol, pp+".downstream_protocol")
	v.upstreamProtocol(pc.UpstreamProtocol, pp+".upstream_protocol", true)
	v.upgradeConfigs(pc.UpgradeConfigs, pp+".upgrade_configs") // upgrade_configs.go
	switch _, ok := v.routerNames[pc.RouterConfigName]; {
	case pc.RouterConfigName == "":
		v.p.add(pp+".router_config_name", "required")
	case !ok:
		v.p.add(pp+".router_config_name", strconv.Quote(pc.RouterConfigName)+" names no router")
	}
}

// downstreamProtocol checks what clients may speak: Http1, Http2 (h2c
// with prior knowledge), or Auto / empty (either, told apart by the HTTP/2
// connection preface, as MOSN's Auto does).
func (v *validator) downstreamProtocol(name, path string) {
	switch name {
	case "", protocolHTTP1, protocolHTTP2, protocolAuto:
		return
	}
	v.p.add(path, "unsupported protocol "+strconv.Quote(name)+"; ferry serves Http1, Http2 (h2c) and Auto (either, by the connection preface)")
}

// upstreamProtocol checks what ferry speaks to upstream hosts: Http1, or
// Auto / empty, which mean Http1, and on a proxy filter Http2 (h2c with
// prior knowledge). A route cannot switch its listener's upstream
// protocol yet.
func (v *validator) upstreamProtocol(name, path string, proxy bool) {
	switch name {
	case "", protocolHTTP1, protocolAuto:
		return
	case protocolHTTP2:
		if !proxy {
			v.p.add(path, `"Http2" per route is not supported; set upstream_protocol on the listener's proxy filter`)
			return
		}
		// h2c to a plain cluster; h2 by ALPN to a cluster with TLS
		// (ClusterTLS offers it unless the cluster's alpn leaves it out;
		// a host that does not choose it fails the dial).
		return
	}
	v.p.add(path, "unsupported protocol "+strconv.Quote(name)+"; ferry speaks Http1 or Http2 (h2c, or h2 by ALPN to a "+
		"cluster with TLS) to upstream hosts (Auto and empty mean Http1)")
}

// durations reports every negative Duration in v, found at path.
func (v *validator) durations(val reflect.Value, path string) {
	walkTree(val, path, func(val reflect.Value, path string, _ *reflect.StructField) bool {
		if val.Kind() == reflect.Int64 && val.Type() == reflect.TypeFor[Duration]() && val.Int() < 0 {
			v.p.add(path, "must not be negative, got "+Duration(val.Int()).String())
		}
		return true
	})
}

// admin checks the admin API's address: an IP (or empty, for 127.0.0.1)
// and a port up to 65535.
func (v *validator) admin() {
	if v.c.Admin == nil || v.c.Admin.Address == nil {
		return
	}
	sa := v.c.Admin.Address.SocketAddress
	if sa.Address != "" && net.ParseIP(sa.Address) == nil {
		v.p.add("admin.address.socket_address.address", "invalid IP address "+strconv.Quote(sa.Address))
	}
	if sa.PortValue > 65535 {
		v.p.add("admin.address.socket_address.port_value", "port "+strconv.FormatUint(uint64(sa.PortValue), 10)+" is above 65535")
	}
}
