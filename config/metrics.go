package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
)

// SinkPrometheus is the one metrics sink type ferry serves: a Prometheus
// scrape endpoint.
const SinkPrometheus = "prometheus"

// DefaultMetricsEndpoint is a prometheus sink's path when its endpoint is
// empty, as in MOSN.
const DefaultMetricsEndpoint = "/metrics"

// PrometheusSink is the config of a "prometheus" metrics sink: an HTTP
// server on every interface at Port serving the Prometheus text
// exposition at Endpoint, the same families as the admin API's /metrics.
type PrometheusSink struct {
	// Port is the TCP port, 1 to 65535. Required.
	Port int `json:"port"`
	// Endpoint is the path served; empty means /metrics.
	Endpoint string `json:"endpoint,omitempty"`
	// DisableCollectGo leaves out the Go runtime's go_* families.
	DisableCollectGo bool `json:"disable_collect_go,omitempty"`
	// DisableCollectProcess leaves out the process_* families.
	DisableCollectProcess bool `json:"disable_collect_process,omitempty"`
	// Percentiles are MOSN's summary quantiles; ferry exports histogram
	// buckets instead (quantiles are computed from them at query time,
	// histogram_quantile), so a set value is warned about.
	Percentiles []int `json:"percentiles,omitempty"`
}

// PrometheusSinks returns the metrics sinks, decoded, with the endpoint
// defaulted. Call it on a validated config: every sink is then a
// prometheus sink (or was let through by allow_unimplemented, and is
// skipped here). Any goroutine.
func (c *Config) PrometheusSinks() []PrometheusSink {
	if c.Metrics == nil {
		return nil
	}
	var out []PrometheusSink
	for _, s := range c.Metrics.Sinks {
		if s.Type != SinkPrometheus {
			continue
		}
		ps, err := decodePrometheusSink(s.Config)
		if err != nil {
			continue // Validate reported it
		}
		out = append(out, ps)
	}
	return out
}

// decodePrometheusSink decodes a prometheus sink's config strictly and
// defaults its endpoint.
func decodePrometheusSink(raw json.RawMessage) (PrometheusSink, error) {
	var ps PrometheusSink
	if len(bytes.TrimSpace(raw)) == 0 {
		return ps, errors.New("required: a prometheus sink needs {\"port\": N}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ps); err != nil {
		return ps, err
	}
	if ps.Endpoint == "" {
		ps.Endpoint = DefaultMetricsEndpoint
	}
	return ps, nil
}

// metrics checks the metrics sinks: only prometheus sinks (another type
// is refused, or with allow_unimplemented warned about by
// metricsWarnings), each with a port of its own (not a listener's, the
// admin API's or another sink's) and an endpoint that is an absolute
// path.
func (v *validator) metrics() {
	if v.c.Metrics == nil {
		return
	}
	taken := v.takenPorts()
	for i, s := range v.c.Metrics.Sinks {
		sp := index("metrics.sinks", i)
		if s.Type != SinkPrometheus {
			if !v.c.Ferry.Compat.AllowUnimplemented {
				v.p.add(sp+".type", sinkRefusal(s.Type))
			}
			continue
		}
		if s.GoPluginConfig != nil {
			v.p.add(sp+".go_plugin_config", "a metrics sink is not loaded from a Go plugin")
		}
		ps, err := decodePrometheusSink(s.Config)
		if err != nil {
			v.p.add(sinkErrPath(sp+".config", err), sinkErrMsg(err))
			continue
		}
		pp := sp + ".config.port"
		switch first, dup := taken[ps.Port]; {
		case ps.Port < 1 || ps.Port > 65535:
			v.p.add(pp, "port "+strconv.Itoa(ps.Port)+" out of range: want 1 to 65535")
		case dup:
			v.p.add(pp, "port "+strconv.Itoa(ps.Port)+" is already used by "+first)
		default:
			taken[ps.Port] = pp
		}
		if !strings.HasPrefix(ps.Endpoint, "/") || strings.ContainsAny(ps.Endpoint, " ?#") {
			v.p.add(sp+".config.endpoint", "invalid endpoint "+strconv.Quote(ps.Endpoint)+": want an absolute path such as /metrics")
		}
	}
}

// takenPorts maps the ports of the listeners and the admin API to their
// paths: a sink binds every interface, so it may share none of them.
func (v *validator) takenPorts() map[int]string {
	taken := map[int]string{}
	for si := range v.c.Servers {
		for li, l := range v.c.Servers[si].Listeners {
			_, port, err := net.SplitHostPort(l.Address)
			if n, perr := strconv.Atoi(port); err == nil && perr == nil && n > 0 {
				if _, ok := taken[n]; !ok {
					taken[n] = index(index("servers", si)+".listeners", li) + ".address"
				}
			}
		}
	}
	if a := v.c.Admin; a != nil && a.Address != nil && a.Address.SocketAddress.PortValue != 0 {
		taken[int(a.Address.SocketAddress.PortValue)] = "admin.address.socket_address.port_value" // <= 65535, checked by admin
	}
	return taken
}

// sinkRefusal is the message for a sink type ferry does not serve.
func sinkRefusal(typ string) string {
	return RefusalMsg("metrics would not reach the "+strconv.Quote(typ)+" sink (ferry serves only "+
		strconv.Quote(SinkPrometheus)+" sinks)", strconv.Quote(typ)+" metrics sink")
}

// sinkErrPath locates a decoding error within the sink's config.
func sinkErrPath(path string, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return path + "." + te.Field
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(f); uerr == nil {
			return path + "." + name
		}
	}
	return path
}

// sinkErrMsg says what was wrong with the sink's config.
func sinkErrMsg(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return "want " + te.Type.String() + ", got JSON " + te.Value
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field: a prometheus sink takes port, endpoint, disable_collect_go, disable_collect_process and percentiles"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// metricsWarnings reports sinks let through by allow_unimplemented and
// prometheus sinks' percentiles.
func metricsWarnings(c *Config, w []FieldError) []FieldError {
	if c.Metrics == nil {
		return w
	}
	for i, s := range c.Metrics.Sinks {
		sp := index("metrics.sinks", i)
		if s.Type != SinkPrometheus {
			if c.Ferry.Compat.AllowUnimplemented {
				w = append(w, FieldError{Path: sp + ".type", Msg: "not implemented: metrics would not reach the " +
					strconv.Quote(s.Type) + " sink; running without it (allow_unimplemented)"})
			}
			continue
		}
		if ps, err := decodePrometheusSink(s.Config); err == nil && len(ps.Percentiles) > 0 {
			w = append(w, FieldError{Path: sp + ".config.percentiles", Msg: "ignored: ferry exports histogram buckets, " +
				"not summary quantiles; compute quantiles at query time with histogram_quantile"})
		}
	}
	return w
}
