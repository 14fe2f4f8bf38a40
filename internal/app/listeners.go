package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/conn"
	"github.com/ferry-proxy/ferry/eventloop"
	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/internal/metrics"
	"github.com/ferry-proxy/ferry/proxy"
)

// Listeners: the build of servers[0].listeners into engine listeners, and
// the per-listener snapshot a hot reload swaps (docs/operations.md, "Hot
// reload"). Each engine listener carries an eventloop.Chain (its network
// filter factories, which hold the stream filters, the proxy filter's
// settings and the access log, and its TLS) behind an atomic pointer read
// once per accepted connection: a reload builds a new Chain for a listener
// whose settings changed and swaps it in; connections already open keep
// the filters they were built with until they close.

// listenerState is what the build of one engine listener made besides
// its Chain, kept so that a reload can tell what changed and what to keep.
type listenerState struct {
	// cfg is the listener's config as JSON: a reload rebuilds a listener
	// whose JSON differs.
	cfg []byte
	// tlsKey is JSON of what its TLS is built from: a reload keeps the
	// conn.TLSServer (its session keys, counters and certificate
	// reloaders) while it is equal.
	tlsKey []byte
	// proto is its proxy filter's downstream protocol, "" without one.
	proto string
	// certs are its TLS certificates' reloaders.
	certs []*conn.CertReloader
}

// chainBuild is what building one listener needs beyond its config.
type chainBuild struct {
	reg       *filterchain.Registry
	policy    proxy.Policy
	handshake time.Duration
	allow     bool
	// warnings collects what runs without an unimplemented setting.
	warnings *[]string
}

// buildListeners turns servers[0].listeners into engine listeners. A
// filter type that is not registered is refused like any setting ferry
// does not implement: an error at its path, or, with allow_unimplemented,
// a warning and the listener runs without it. A listener with bind_port
// false (let through only by allow_unimplemented) is not opened.
func (a *App) buildListeners(cfg *config.Config, reg *filterchain.Registry, policy proxy.Policy) error {
	a.filters = reg
	b := chainBuild{reg: reg, policy: policy, handshake: cfg.Ferry.WithDefaults().Timeouts.TLSHandshake.Std(),
		allow: cfg.Ferry.Compat.AllowUnimplemented, warnings: &a.warnings}
	var p problems
	var states []listenerState
	ids := a.metrics.lookup.Load()
	for li := range cfg.Servers[0].Listeners {
		l := &cfg.Servers[0].Listeners[li]
		if !l.Binds() {
			continue
		}
		ch, st := a.buildChain(l, fmt.Sprintf("servers[0].listeners[%d]", li), ids.listeners[len(a.listeners)], b, nil, &p)
		el := &eventloop.Listener{Name: l.Name, Address: l.Address, Filters: ch.Filters, TLS: ch.TLS}
		el.SetChain(ch)
		a.listeners = append(a.listeners, el)
		states = append(states, st)
	}
	a.lstate.Store(&states)
	for i := range states {
		a.protocols = append(a.protocols, a.protocol(i))
	}
	if len(a.listeners) == 0 && len(p.list) == 0 {
		p.add("servers[0].listeners", "no listener to open: every listener has bind_port false")
	}
	return p.err()
}

// buildChain builds listener l's Chain (found at path, counted under id).
// With old, the listener's current state, an unchanged TLS setup keeps
// its conn.TLSServer, oldTLS.
func (a *App) buildChain(l *config.Listener, path string, id metrics.ID, b chainBuild, old *listenerOld,
	p *problems) (*eventloop.Chain, listenerState) {
	st := listenerState{tlsKey: listenerTLSKey(l, b.handshake)}
	st.cfg, _ = json.Marshal(l) // a config that was decoded from JSON encodes again
	var streamFilters []filterchain.StreamFilterFactory
	for fi, sf := range l.StreamFilters {
		fpath := fmt.Sprintf("%s.stream_filters[%d]", path, fi)
		ff, err := b.reg.NewStream(sf.Type, sf.Config)
		if filterOK(p, b, err, fpath, "requests would pass without the "+strconv.Quote(sf.Type)+" filter",
			"stream filter "+strconv.Quote(sf.Type)) {
			streamFilters = append(streamFilters, ff)
		}
	}
	var idle time.Duration
	if l.ConnectionIdleTimeout != nil {
		idle = l.ConnectionIdleTimeout.Std()
	}
	ch := &eventloop.Chain{}
	alog := a.alogs.listener(l, path, p)
	if old != nil && bytes.Equal(old.state.tlsKey, st.tlsKey) {
		ch.TLS, st.certs = old.tls, old.state.certs
	} else {
		ch.TLS, st.certs = a.listenerTLS(l, path, b.handshake, p)
	}
	for ci, fc := range l.FilterChains {
		for fi, nf := range fc.Filters {
			fpath := fmt.Sprintf("%s.filter_chains[%d].filters[%d]", path, ci, fi)
			if nf.Type == config.ProxyFilterType && nf.Proxy != nil {
				down, up := nf.Proxy.Protocols()
				proto, err := proxy.ParseProtocol(down)
				if err != nil {
					p.add(fpath+".config.downstream_protocol", err.Error())
					continue
				}
				if st.proto == "" {
					st.proto = down
				}
				ch.Filters = append(ch.Filters, a.srv.NewFactory(proxy.FactoryConfig{
					RouterName: nf.Proxy.RouterConfigName, StreamFilters: streamFilters, Policy: b.policy, Protocol: proto,
					UpstreamHTTP2: up == "Http2", Upgrades: listenerUpgrades(nf.Proxy.UpgradeConfigs),
					IdleTimeout: idle, AccessLog: alog, MetricsID: id}))
				continue
			}
			if nf.Type == config.TCPProxyFilterType && nf.TCPProxy != nil {
				if tf := a.tcpProxyFactory(nf.TCPProxy, id, fpath, p); tf != nil {
					ch.Filters = append(ch.Filters, tf)
				}
				continue
			}
			nff, err := b.reg.NewNetwork(nf.Type, nf.Config)
			if filterOK(p, b, err, fpath, "connections would not pass through the "+strconv.Quote(nf.Type)+" filter",
				"network filter "+strconv.Quote(nf.Type)) {
				ch.Filters = append(ch.Filters, conn.Chain(nff))
			}
		}
	}
	return ch, st
}

// listenerOld is a listener's state and TLS before a reload.
type listenerOld struct {
	state *listenerState
	tls   *conn.TLSServer
}

// listenerTLSKey is JSON of what listener l's TLS is built from: the
// first filter chain's contexts, the inspector, the ALPN offer (its proxy
// filter's downstream protocol) and the handshake timeout.
func listenerTLSKey(l *config.Listener, handshake time.Duration) []byte {
	var k struct {
		Ctx       *config.TLSConfig
		Set       []config.TLSConfig
		Inspector bool
		Down      string
		Handshake time.Duration
	}
	k.Inspector, k.Handshake = l.Inspector, handshake
	if len(l.FilterChains) > 0 {
		fc := &l.FilterChains[0]
		k.Ctx, k.Set = fc.TLSContext, fc.TLSContextSet
		for _, nf := range fc.Filters {
			if nf.Type == config.ProxyFilterType && nf.Proxy != nil {
				k.Down, _ = nf.Proxy.Protocols()
				break
			}
		}
	}
	out, _ := json.Marshal(&k) // plain data: cannot fail
	return out
}

// filterOK reports whether the registry built the filter at fpath (err
// nil). A type that is not registered is refused like any setting ferry
// does not implement (why, what: config.RefusalMsg), or with
// allow_unimplemented a warning; any other error is a problem at its
// config.
func filterOK(p *problems, b chainBuild, err error, fpath, why, what string) bool {
	switch {
	case err == nil:
		return true
	case !errors.Is(err, filterchain.ErrUnknownType):
		p.add(fpath+".config", err.Error())
	case b.allow:
		*b.warnings = append(*b.warnings, fpath+".type: not implemented: "+why+"; running without it (allow_unimplemented)")
	default:
		p.add(fpath+".type", config.RefusalMsg(why, what))
	}
	return false
}

// protocol is listener i's downstream protocol, "" when it has no proxy
// filter. Any goroutine.
func (a *App) protocol(i int) string {
	if ls := a.lstate.Load(); ls != nil && i < len(*ls) {
		return (*ls)[i].proto
	}
	return ""
}

// reloadListeners builds, for each listener of next whose settings
// differ from the running one's, a new Chain, and returns a function that
// swaps them in (nil when nothing changed). Nothing is swapped when it
// fails. The listeners themselves (names, addresses) are those running:
// reloadDiff checked that. Control goroutine, under the reload lock.
func (a *App) reloadListeners(next *config.Config, policy proxy.Policy) (func(), error) {
	cur := *a.lstate.Load()
	states := append([]listenerState(nil), cur...)
	var warnings []string
	b := chainBuild{reg: a.filters, policy: policy, handshake: next.Ferry.WithDefaults().Timeouts.TLSHandshake.Std(),
		allow: next.Ferry.Compat.AllowUnimplemented, warnings: &warnings}
	var p problems
	ids := a.metrics.lookup.Load()
	type swap struct {
		el *eventloop.Listener
		ch *eventloop.Chain
	}
	var swaps []swap
	i := 0
	for li := range next.Servers[0].Listeners {
		l := &next.Servers[0].Listeners[li]
		if !l.Binds() {
			continue
		}
		el := a.listeners[i]
		cfg, _ := json.Marshal(l) // as in buildChain
		if bytes.Equal(cfg, cur[i].cfg) && bytes.Equal(listenerTLSKey(l, b.handshake), cur[i].tlsKey) &&
			policy == a.policy {
			i++
			continue
		}
		ch, st := a.buildChain(l, fmt.Sprintf("servers[0].listeners[%d]", li), ids.listeners[i], b,
			&listenerOld{state: &cur[i], tls: el.Chain().TLS}, &p)
		states[i] = st
		swaps = append(swaps, swap{el, ch})
		i++
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if len(swaps) == 0 {
		return nil, nil
	}
	if err := a.alogs.start(); err != nil { // the files the new chains add; those open stay open
		return nil, err
	}
	return func() {
		for _, s := range swaps {
			s.el.SetChain(s.ch)
		}
		a.lstate.Store(&states)
		for _, w := range warnings {
			a.log.Warn("config", "warning", w)
		}
		if err := errors.Join(a.registerTLSMetrics(), a.registerAccessLogMetrics()); err != nil {
			a.log.Warn("reload: the new listeners' metrics are not exported", "err", err)
		}
	}, nil
}
