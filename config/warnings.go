package config

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// isSet reports whether v holds something: not a zero value, a nil or empty
// container, a pointer to a zero value, or raw JSON null/{}/[]/"".
func isSet(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer:
		return !v.IsNil() && isSet(v.Elem())
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			switch strings.TrimSpace(string(v.Bytes())) {
			case "", "null", "{}", "[]", `""`:
				return false
			}
			return true
		}
		return v.Len() > 0
	case reflect.Map:
		return v.Len() > 0
	default:
		return !v.IsZero()
	}
}

// semanticWarnings reports settings that ferry serves differently from MOSN.
func semanticWarnings(c *Config) []FieldError {
	var w []FieldError
	for si := range c.Servers {
		sp := index("servers", si)
		for li := range c.Servers[si].Listeners {
			w = listenerWarnings(&c.Servers[si].Listeners[li], index(sp+".listeners", li), c.Ferry.Compat.AllowUnimplemented, w)
		}
		for ri := range c.Servers[si].Routers {
			w = routerWarnings(&c.Servers[si].Routers[ri], index(sp+".routers", ri), w)
		}
	}
	w = metricsWarnings(c, w)
	for ci := range c.ClusterManager.Clusters {
		cp := index("cluster_manager.clusters", ci)
		if t := c.ClusterManager.Clusters[ci].LBType; refusedLB(t) && c.Ferry.Compat.AllowUnimplemented {
			w = append(w, FieldError{Path: cp + ".lb_type", Msg: "lb_type " + strconv.Quote(string(t)) +
				" not implemented: " + lbWhy + " (allow_unimplemented)"})
		}
		for hi, h := range c.ClusterManager.Clusters[ci].Hosts {
			if h.Weight > MaxHostWeight {
				w = append(w, FieldError{
					Path: index(cp+".hosts", hi) + ".weight",
					Msg:  strconv.FormatUint(uint64(h.Weight), 10) + " is clamped to " + strconv.Itoa(MaxHostWeight) + ", as MOSN does",
				})
			}
		}
	}
	return w
}

// UnboundListenerWhy is what a listener with bind_port false does in
// MOSN, and why ferry cannot serve it yet.
const UnboundListenerWhy = "bind_port false asks for a listener that only receives connections handed off by a use_original_dst listener, which ferry cannot do"

// listenerWarnings reports a listener's MOSN settings served differently.
func listenerWarnings(l *Listener, lp string, allow bool, w []FieldError) []FieldError {
	if !l.Binds() && allow {
		w = append(w, FieldError{Path: lp + ".bind_port", Msg: "not implemented: " + UnboundListenerWhy +
			"; the listener is not opened (allow_unimplemented)"})
	}
	return w
}

// routerWarnings reports routes whose matchers overlap.
func routerWarnings(rc *RouterConfig, rp string, w []FieldError) []FieldError {
	for vi := range rc.VirtualHosts {
		for i, r := range rc.VirtualHosts[vi].Routers {
			m := r.Match
			n := 0
			for _, s := range []string{m.Path, m.Prefix, m.Regex} {
				if s != "" {
					n++
				}
			}
			if n > 1 {
				w = append(w, FieldError{
					Path: index(index(rp+".virtual_hosts", vi)+".routers", i) + ".match",
					Msg:  "several of path, prefix and regex are set; path wins, then prefix, then regex (MOSN's order)",
				})
			}
		}
	}
	return w
}
