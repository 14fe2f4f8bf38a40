package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// the filters they were built with until they close. A listener the
// reload's config lacks is removed (removeListener: its sockets close and
// its connections drain); one it adds opens on a spare slot of the engine
// (eventloop/spare_linux.go).

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
	// drain is its proxy filters' drain switch, kept across rebuilds.
	drain *proxy.ListenerDrain
	// tcp is set when it has a tcp_proxy filter.
	tcp bool
	// removed is set once a reload removed it.
	removed bool
}

// chainBuild is what building one listener needs beyond its config.
type chainBuild struct {
	reg       *filterchain.Registry
	policy    proxy.Policy
	handshake time.Duration
	allow     bool
	// warnings collects what runs without an unimplemented setting.
	warnings *[]string
	// settings are the proxy filters' ferry-wide settings.
	settings proxy.Settings
}

// buildListeners turns servers[0].listeners into engine listeners. A
// filter type that is not registered is refused like any setting ferry
// does not implement: an error at its path, or, with allow_unimplemented,
// a warning and the listener runs without it. A listener with bind_port
// false (let through only by allow_unimplemented) is not opened.
func (a *App) buildListeners(cfg *config.Config, reg *filterchain.Registry, policy proxy.Policy) error {
	a.filters = reg
	b := chainBuild{reg: reg, policy: policy, handshake: cfg.Ferry.WithDefaults().Timeouts.TLSHandshake.Std(),
		allow: cfg.Ferry.Compat.AllowUnimplemented, warnings: &a.warnings, settings: a.settings}
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
	st := listenerState{tlsKey: listenerTLSKey(l, b.handshake), drain: proxy.NewListenerDrain()}
	if old != nil {
		st.drain = old.state.drain // every factory the listener had drains together
	}
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
					IdleTimeout: idle, AccessLog: alog, MetricsID: id, Settings: &b.settings, Drain: st.drain}))
				continue
			}
			if nf.Type == config.TCPProxyFilterType && nf.TCPProxy != nil {
				st.tcp = true
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

// spareListeners is how many listeners reloads may add while ferry runs
// (eventloop.Options.Spare): each holds a slot under gnet's pollers from
// start, a dead socket until used, so that an added listener is polled
// by the running loops (eventloop/spare_linux.go).
const spareListeners = 4

// engListeners are the engine's listeners, with the spare slots; before
// the engine exists (New), those built. Any goroutine.
func (a *App) engListeners() []*eventloop.Listener {
	if a.eng == nil {
		return a.listeners
	}
	return a.eng.Listeners()
}

// listenerID identifies a listener across reloads: its name and address.
type listenerID struct{ name, addr string }

// reloadListeners plans the listeners of next against the running ones,
// by name and address: for each that runs on, a new Chain when its
// settings (or the ferry-wide ones it is built from) changed; each running
// listener next lacks is removed. It returns a function that swaps the
// chains in, opens the added listeners and begins the removals, returning
// the added listeners it could not open (nil when nothing changes). Nothing
// changes when it fails: a listener next adds, or the removal of one that
// cannot drain, is refused naming its path. Control goroutine, under the
// reload lock.
func (a *App) reloadListeners(next *config.Config, policy proxy.Policy, settings proxy.Settings) (func() error, error) {
	cur := *a.lstate.Load()
	states := append([]listenerState(nil), cur...)
	var warnings []string
	b := chainBuild{reg: a.filters, policy: policy, handshake: next.Ferry.WithDefaults().Timeouts.TLSHandshake.Std(),
		allow: next.Ferry.Compat.AllowUnimplemented, warnings: &warnings, settings: settings}
	var p problems
	ids := a.metrics.lookup.Load()
	all := a.eng.Listeners()
	running := map[listenerID]int{}
	for i, el := range all {
		if !el.Removed() && !el.Spare() {
			running[listenerID{el.Name, el.Address}] = i
		}
	}
	type swap struct {
		el *eventloop.Listener
		ch *eventloop.Chain
	}
	var swaps []swap
	type add struct {
		l    *config.Listener
		path string
		ch   *eventloop.Chain
		st   listenerState
	}
	var adds []add
	kept := map[int]bool{}
	k := 0
	for li := range next.Servers[0].Listeners {
		l := &next.Servers[0].Listeners[li]
		if !l.Binds() {
			continue
		}
		path := fmt.Sprintf("servers[0].listeners[%d]", li)
		i, ok := running[listenerID{l.Name, l.Address}]
		if !ok { // added: opened on a spare slot below
			ch, st := a.buildChain(l, path, ids.listeners[k], b, nil, &p)
			adds = append(adds, add{l, path, ch, st})
			k++
			continue
		}
		kept[i] = true
		el := all[i]
		cfg, _ := json.Marshal(l) // as in buildChain
		if bytes.Equal(cfg, cur[i].cfg) && bytes.Equal(listenerTLSKey(l, b.handshake), cur[i].tlsKey) &&
			policy == a.policy && settings == a.settings {
			k++
			continue
		}
		ch, st := a.buildChain(l, path, ids.listeners[k], b, &listenerOld{state: &cur[i], tls: el.Chain().TLS}, &p)
		states[i] = st
		swaps = append(swaps, swap{el, ch})
		k++
	}
	var removed []int
	for id, i := range running {
		if kept[i] {
			continue
		}
		if cur[i].tcp {
			p.add(fmt.Sprintf("servers[0].listeners (%q at %s)", id.name, id.addr),
				"removing a tcp_proxy listener needs a restart: its relayed connections would not be drained")
			continue
		}
		removed = append(removed, i)
		for _, ad := range adds {
			if ad.l.Address == id.addr && !strings.HasSuffix(id.addr, ":0") {
				p.add(ad.path, fmt.Sprintf("listener %q takes the address %s of listener %q, which this reload removes: "+
					"renaming a listener, or moving an address to another, needs a restart (the removed listener's "+
					"socket holds the address while it drains)", ad.l.Name, id.addr, id.name))
			}
		}
	}
	slices.Sort(removed)
	if err := p.err(); err != nil {
		return nil, err
	}
	if len(swaps) == 0 && len(removed) == 0 && len(adds) == 0 {
		return nil, nil
	}
	if err := a.alogs.start(); err != nil { // the files the new chains add; those open stay open
		return nil, err
	}
	// The added listeners' sockets are bound now, so that an address in use
	// refuses the reload; they are polled once the routes are in.
	var pending []*eventloop.PendingListener
	for _, ad := range adds {
		el := &eventloop.Listener{Name: ad.l.Name, Address: ad.l.Address}
		el.SetChain(ad.ch)
		pl, err := a.eng.PrepareListener(el)
		if err != nil {
			for _, pl := range pending {
				pl.Cancel()
			}
			return nil, fmt.Errorf("servers[0].listeners (%q at %s): adding it while ferry runs: %w "+
				"(docs/operations.md, \"Hot reload\")", ad.l.Name, ad.l.Address, err)
		}
		pending = append(pending, pl)
	}
	return func() error {
		for _, s := range swaps {
			s.el.SetChain(s.ch)
		}
		var unopened []error
		for n, pl := range pending {
			if _, i, err := a.openAdded(pl); err != nil {
				unopened = append(unopened, fmt.Errorf("%s (%q at %s): bound, but not opened on the running loops: %w",
					adds[n].path, adds[n].l.Name, adds[n].l.Address, err))
			} else {
				for len(states) <= i {
					states = append(states, listenerState{})
				}
				states[i] = adds[n].st
				a.log.Info("reload: listener added", "listener", adds[n].l.Name, "address", pl.Addr())
			}
		}
		for _, i := range removed {
			states[i].removed = true
		}
		a.lstate.Store(&states)
		a.settings = settings
		for _, w := range warnings {
			a.log.Warn("config", "warning", w)
		}
		if err := errors.Join(a.registerTLSMetrics(), a.registerAccessLogMetrics()); err != nil {
			a.log.Warn("reload: the new listeners' metrics are not exported", "err", err)
		}
		for _, i := range removed {
			a.removeListener(i, cur[i].drain)
		}
		return errors.Join(unopened...)
	}, nil
}

// listenerDrains are the drains of the listeners reloads removed.
type listenerDrains struct {
	wg   sync.WaitGroup
	stop chan struct{}
	once sync.Once
}

// drainPoll is how often a removed listener's drain counts its open
// connections.
const drainPoll = 10 * time.Millisecond

// removeListener closes listener i's sockets (new connections are
// refused from now on) and drains its connections in the background:
// those between requests close now, each in-flight request finishes and
// closes its connection, and whatever is left when the drain timeout ends
// is closed. Control goroutine, under the reload lock.
func (a *App) removeListener(i int, ld *proxy.ListenerDrain) {
	el := a.eng.Listeners()[i]
	if _, err := a.eng.StopListener(i); err != nil {
		// Without /proc the socket cannot be taken from gnet: its
		// connections still drain, and new ones get the drain's close.
		a.log.Warn("reload: a removed listener's socket stays open until exit; its new connections are closed",
			"listener", el.Name, "err", err)
	}
	a.log.Info("reload: listener removed; draining its connections", "listener", el.Name, "address", el.Address)
	timeout := time.Duration(a.live.drain.Load())
	select {
	case <-a.ldrain.stop:
		return // Shutdown began: its drain covers the connections
	default:
	}
	a.ldrain.wg.Add(1) // under the reload lock, which stopListenerDrains takes to close stop
	go func() {
		defer a.ldrain.wg.Done()
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		tick := time.NewTicker(drainPoll)
		defer tick.Stop()
		force := false
		for {
			open, ok := a.closeListener(ld, force)
			if !ok {
				return // Shutdown took over
			}
			if open == 0 || force {
				a.log.Info("reload: removed listener drained", "listener", el.Name, "closed_at_timeout", open)
				return
			}
			select {
			case <-a.ldrain.stop:
				return
			case <-deadline.C:
				force = true
			case <-tick.C:
			}
		}
	}()
}

// closeListener runs proxy.Server.CloseListener on every loop and returns
// how many of the listener's connections stay open; false once Shutdown
// began. Any goroutine.
func (a *App) closeListener(ld *proxy.ListenerDrain, force bool) (int, bool) {
	loops := a.eng.Loops()
	counts := make(chan int, len(loops))
	for _, l := range loops {
		if err := l.Execute(func() { counts <- a.srv.CloseListener(l, ld, force) }); err != nil {
			counts <- 0 // the engine stops: its Stop closes every connection
		}
	}
	open := 0
	for range loops {
		select {
		case n := <-counts:
			open += n
		case <-a.ldrain.stop:
			return 0, false
		}
	}
	return open, true
}

// stopListenerDrains ends the removed listeners' drains (Shutdown's drain
// covers their connections) and waits for them. Control goroutine.
func (a *App) stopListenerDrains() {
	a.reload.mu.Lock() // no reload starts a drain after this
	a.ldrain.once.Do(func() { close(a.ldrain.stop) })
	a.reload.mu.Unlock()
	a.ldrain.wg.Wait()
}
