package config

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// unimplementedWarnings reports every set field tagged
// `ferry:"unimplemented"`, by its path. A tagged field that is set is not
// searched further.
func unimplementedWarnings(c *Config) []FieldError {
	var w []FieldError
	walkUnimplemented(reflect.ValueOf(c).Elem(), "", &w)
	return w
}

// walkUnimplemented searches v, found at path, for set unimplemented fields.
func walkUnimplemented(v reflect.Value, path string, w *[]FieldError) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkUnimplemented(v.Elem(), path, w)
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			return
		}
		for i := range v.Len() {
			walkUnimplemented(v.Index(i), index(path, i), w)
		}
	case reflect.Struct:
		walkStructUnimplemented(v, path, w)
	default: // scalars and maps hold no tagged fields
	}
}

// walkStructUnimplemented checks the fields of the struct v.
func walkStructUnimplemented(v reflect.Value, path string, w *[]FieldError) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := pathName(f)
		if !ok {
			continue
		}
		p := join(path, name)
		if ferryTag(f, "unimplemented") {
			if isSet(v.Field(i)) {
				*w = append(*w, FieldError{Path: p, Msg: "accepted but not implemented"})
			}
			continue
		}
		walkUnimplemented(v.Field(i), p, w)
	}
}

// pathName returns the name of f in paths: its json key, or the key named
// by a `ferry:"as=NAME"` tag for a field decoded from a sibling key.
func pathName(f reflect.StructField) (string, bool) {
	for _, opt := range strings.Split(f.Tag.Get("ferry"), ",") {
		if as, ok := strings.CutPrefix(opt, "as="); ok {
			return as, true
		}
	}
	return jsonName(f)
}

// ferryTag reports whether f's ferry tag holds opt.
func ferryTag(f reflect.StructField, opt string) bool {
	for _, o := range strings.Split(f.Tag.Get("ferry"), ",") {
		if o == opt {
			return true
		}
	}
	return false
}

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
			w = listenerWarnings(&c.Servers[si].Listeners[li], index(sp+".listeners", li), w)
		}
		for ri := range c.Servers[si].Routers {
			w = routerWarnings(&c.Servers[si].Routers[ri], index(sp+".routers", ri), w)
		}
	}
	for ci := range c.ClusterManager.Clusters {
		cp := index("cluster_manager.clusters", ci)
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

// listenerWarnings reports a listener's MOSN settings served differently.
func listenerWarnings(l *Listener, lp string, w []FieldError) []FieldError {
	if !l.Binds() {
		w = append(w, FieldError{Path: lp + ".bind_port", Msg: "false is not implemented; ferry binds the address"})
	}
	for ci := range l.FilterChains {
		for fi, f := range l.FilterChains[ci].Filters {
			fp := index(index(lp+".filter_chains", ci)+".filters", fi)
			if f.Type != ProxyFilterType {
				w = append(w, FieldError{Path: fp + ".type", Msg: "filter " + strconv.Quote(f.Type) + " accepted but not implemented"})
			}
		}
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
