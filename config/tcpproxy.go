package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// TCPProxyFilterType is the network filter type of MOSN's L4 proxy, whose
// config is decoded into TCPProxyConfig (package tcpproxy).
const TCPProxyFilterType = "tcp_proxy"

// TCPProxyConfig is the config of the "tcp_proxy" network filter: each
// client connection is relayed byte for byte to a host of a cluster.
type TCPProxyConfig struct {
	// StatPrefix names MOSN's stats of the filter; ferry counts on the
	// listener's label instead.
	StatPrefix string `json:"stat_prefix,omitempty" yaml:"stat_prefix,omitempty" ferry:"ignored" why:"ferry's tcp_proxy counters carry the listener's label (ferry_listener_tcp_proxy_*), not a stat prefix"`
	// Cluster, when set, takes every connection and Routes are unused.
	Cluster string `json:"cluster,omitempty" yaml:"cluster,omitempty" note:"takes every connection when set (routes are then unused, as in MOSN); must name a cluster; a cluster with TLS to its hosts is dialled with TLS"`
	// IdleTimeout closes both connections after that long without a byte
	// either way: a duration string ("90s") or MOSN's nanoseconds number.
	IdleTimeout *TCPProxyDuration `json:"idle_timeout,omitempty" yaml:"idle_timeout,omitempty" note:"a duration string (\"90s\") or nanoseconds (MOSN's encoding); absent or 0: none"`
	// MaxConnectAttempts bounds the hosts tried per connection; 0 means 1.
	MaxConnectAttempts uint32 `json:"max_connect_attempts,omitempty" yaml:"max_connect_attempts,omitempty" note:"hosts tried per connection, each picked by the cluster's balancer away from the last failed one; default 1 (Envoy's)"`
	// Routes pick the cluster by addresses and ports, first match.
	Routes []TCPProxyRoute `json:"routes,omitempty" yaml:"routes,omitempty" note:"tried in order when cluster is empty; a connection none matches is closed"`
}

// TCPProxyRoute is one route of a tcp_proxy: the connections matching
// every criterion it sets go to Cluster. A criterion left empty matches
// any connection (Envoy's semantics; MOSN's code never matches an empty
// list).
type TCPProxyRoute struct {
	// Cluster names the cluster. Required.
	Cluster string `json:"cluster,omitempty" yaml:"cluster,omitempty" note:"required; must name a cluster"`
	// SourceAddrs match the client's address.
	SourceAddrs []CidrRange `json:"source_addrs,omitempty" yaml:"source_addrs,omitempty" note:"empty matches any address"`
	// DestinationAddrs match the address the client connected to.
	DestinationAddrs []CidrRange `json:"destination_addrs,omitempty" yaml:"destination_addrs,omitempty" note:"empty matches any address"`
	// SourcePort matches the client's port: "80,8000-9000".
	SourcePort string `json:"source_port,omitempty" yaml:"source_port,omitempty" note:"ports and ranges separated by commas (\"80,8000-9000\"); empty matches any port"`
	// DestinationPort matches the port the client connected to.
	DestinationPort string `json:"destination_port,omitempty" yaml:"destination_port,omitempty" note:"as source_port"`
}

// CidrRange is an address and a prefix length.
type CidrRange struct {
	// Address is an IPv4 or IPv6 address.
	Address string `json:"address,omitempty" yaml:"address,omitempty"`
	// Length is the prefix length in bits.
	Length uint32 `json:"length,omitempty" yaml:"length,omitempty"`
}

// Prefix returns the range as a netip.Prefix (masked).
func (r CidrRange) Prefix() (netip.Prefix, error) {
	a, err := netip.ParseAddr(r.Address)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", r.Address)
	}
	a = a.Unmap()
	if int(r.Length) > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("length %d is longer than the address (%d bits)", r.Length, a.BitLen())
	}
	return netip.PrefixFrom(a, int(r.Length)).Masked(), nil
}

// ParsePorts parses "80,8000-9000" into inclusive [min, max] ranges.
func ParsePorts(s string) ([][2]uint16, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out [][2]uint16
	for item := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(item), "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid port %q", item)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("invalid port range %q", item)
			}
		}
		out = append(out, [2]uint16{uint16(a), uint16(b)})
	}
	return out, nil
}

// TCPProxyDuration is a duration as a string ("90s") or as MOSN writes a
// time.Duration, a number of nanoseconds.
type TCPProxyDuration time.Duration

// Std is the duration. Any goroutine.
func (d TCPProxyDuration) Std() time.Duration { return time.Duration(d) }

// UnmarshalJSON reads a duration string or a number of nanoseconds. The
// caller owns the receiver.
func (d *TCPProxyDuration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if !strings.HasPrefix(s, `"`) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid duration %s: want a string like \"90s\" or nanoseconds", s)
		}
		*d = TCPProxyDuration(n)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	v, err := time.ParseDuration(str)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid duration %q: want a string like \"90s\" or nanoseconds", str)
	}
	*d = TCPProxyDuration(v)
	return nil
}

// MarshalJSON writes the duration as a string. Any goroutine.
func (d TCPProxyDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// decodeTCPProxy decodes a tcp_proxy filter's raw config.
func (f *NetworkFilter) decodeTCPProxy() error {
	f.TCPProxy = &TCPProxyConfig{}
	if err := json.Unmarshal(f.Config, f.TCPProxy); err != nil {
		return fmt.Errorf("tcp_proxy filter config: %w", err)
	}
	return nil
}

// tcpProxy checks a tcp_proxy filter's config at path.
func (v *validator) tcpProxy(tc *TCPProxyConfig, path string) {
	if tc == nil {
		v.p.add(path, "required")
		return
	}
	v.tcpProxyCluster(tc.Cluster, path+".cluster", false)
	if tc.Cluster == "" && len(tc.Routes) == 0 {
		v.p.add(path, "a cluster or routes are required")
	}
	for i := range tc.Routes {
		r := &tc.Routes[i]
		rp := index(path+".routes", i)
		v.tcpProxyCluster(r.Cluster, rp+".cluster", true)
		for _, set := range []struct {
			name  string
			addrs []CidrRange
		}{{"source_addrs", r.SourceAddrs}, {"destination_addrs", r.DestinationAddrs}} {
			for j, a := range set.addrs {
				if _, err := a.Prefix(); err != nil {
					v.p.add(index(rp+"."+set.name, j), err.Error())
				}
			}
		}
		if _, err := ParsePorts(r.SourcePort); err != nil {
			v.p.add(rp+".source_port", err.Error())
		}
		if _, err := ParsePorts(r.DestinationPort); err != nil {
			v.p.add(rp+".destination_port", err.Error())
		}
	}
}

func (v *validator) tcpProxyCluster(name, path string, required bool) {
	switch _, ok := v.clusterNames[name]; {
	case name == "":
		if required {
			v.p.add(path, "required")
		}
	case !ok:
		v.p.add(path, strconv.Quote(name)+" names no cluster")
	}
}
