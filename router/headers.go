package router

import (
	"fmt"
	"strings"
)

// Var is a request variable a header value may refer to as %NAME%
// (Envoy's and MOSN's syntax). The set is small on purpose: each is cheap
// for the proxy to produce. Any other %NAME% is a NewTable error.
type Var uint8

// The supported variables.
const (
	// VarDownstreamRemoteAddress is the client's address, ip:port
	// (%DOWNSTREAM_REMOTE_ADDRESS%).
	VarDownstreamRemoteAddress Var = iota + 1
	// VarDownstreamRemoteAddressWithoutPort is the client's IP
	// (%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%).
	VarDownstreamRemoteAddressWithoutPort
	// VarDownstreamLocalAddress is the address the client connected to,
	// ip:port (%DOWNSTREAM_LOCAL_ADDRESS%).
	VarDownstreamLocalAddress
	// VarUpstreamRemoteAddress is the chosen upstream host's address as
	// configured (%UPSTREAM_REMOTE_ADDRESS%).
	VarUpstreamRemoteAddress
	// VarUpstreamCluster is the chosen cluster's name (%UPSTREAM_CLUSTER%).
	VarUpstreamCluster
)

// varNames maps each Var to its name between the percent signs.
//
//nolint:gochecknoglobals // read-only
var varNames = map[string]Var{
	"DOWNSTREAM_REMOTE_ADDRESS":              VarDownstreamRemoteAddress,
	"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": VarDownstreamRemoteAddressWithoutPort,
	"DOWNSTREAM_LOCAL_ADDRESS":               VarDownstreamLocalAddress,
	"UPSTREAM_REMOTE_ADDRESS":                VarUpstreamRemoteAddress,
	"UPSTREAM_CLUSTER":                       VarUpstreamCluster,
}

// SupportedVars lists the variable names header values accept, for errors
// and docs.
const SupportedVars = "%DOWNSTREAM_REMOTE_ADDRESS%, %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%, " +
	"%DOWNSTREAM_LOCAL_ADDRESS%, %UPSTREAM_REMOTE_ADDRESS%, %UPSTREAM_CLUSTER%"

// VarSource produces variable values; the proxy implements it per stream.
type VarSource interface {
	// AppendVar appends v's value for the current request to dst.
	AppendVar(dst []byte, v Var) []byte
}

// valuePart is a literal or a variable of a header value.
type valuePart struct {
	lit string
	v   Var // 0 for a literal
}

// HeaderAdd is one compiled header to add.
type HeaderAdd struct {
	// Name is the header name, lower-cased.
	Name string
	// Append is HeaderValue.Append (informational: NewTable already turned
	// a replacing add into a removal before it).
	Append bool
	lit    string      // the whole value, when it has no variable
	parts  []valuePart // nil when the value has no variable
}

// Literal returns the value and true when it holds no variable (adding it
// costs no allocation). Any goroutine.
func (a *HeaderAdd) Literal() (string, bool) { return a.lit, a.parts == nil }

// AppendValue appends the value to dst, variables expanded by src. Any
// goroutine.
func (a *HeaderAdd) AppendValue(dst []byte, src VarSource) []byte {
	if a.parts == nil {
		return append(dst, a.lit...)
	}
	for _, p := range a.parts {
		if p.v == 0 {
			dst = append(dst, p.lit...)
		} else {
			dst = src.AppendVar(dst, p.v)
		}
	}
	return dst
}

// HeaderOps is the net effect of a route's header mutations on one
// message: remove every field named in Remove (the message's own and those
// filters added), then add Add in order. Immutable.
type HeaderOps struct {
	Remove []string
	Add    []HeaderAdd
}

// parseValue splits a header value into literals and variables. It
// returns an error naming the unknown variable.
func parseValue(s string) (string, []valuePart, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil, nil
	}
	var parts []valuePart
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			return "", nil, fmt.Errorf("unterminated variable in %q (write %%%% for a percent sign)", s)
		}
		name := s[i+1 : i+1+j]
		i += j + 1
		if name == "" {
			lit.WriteByte('%')
			continue
		}
		v, ok := varNames[name]
		if !ok {
			return "", nil, fmt.Errorf("unknown variable %%%s%% (supported: %s)", name, SupportedVars)
		}
		if lit.Len() > 0 {
			parts = append(parts, valuePart{lit: lit.String()})
			lit.Reset()
		}
		parts = append(parts, valuePart{v: v})
	}
	if parts == nil {
		return lit.String(), nil, nil
	}
	if lit.Len() > 0 {
		parts = append(parts, valuePart{lit: lit.String()})
	}
	return "", parts, nil
}

// reservedHeader reports whether name is a field ferry frames or routes by
// itself, which header mutations may not touch: Host (use host_rewrite),
// the framing and the hop-by-hop fields.
func reservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "host", "content-length", "transfer-encoding", "connection", "keep-alive",
		"proxy-connection", "te", "trailer", "upgrade":
		return true
	}
	return false
}

// mutationLevel is one level's mutations with the config path prefix its
// errors carry and where they go (nil: not reported, because another pass
// reports them once).
type mutationLevel struct {
	m    *HeaderMutations
	path string // "route." for a route, "" for a virtual host or table
	fail func(msg string)
}

// buildOps compiles the mutations of levels (most specific first) for
// one direction. Invalid entries are reported to their level's fail and
// left out.
func buildOps(levels []mutationLevel, response bool) *HeaderOps {
	addName, rmName := "request_headers_to_add", "request_headers_to_remove"
	if response {
		addName, rmName = "response_headers_to_add", "response_headers_to_remove"
	}
	ops := &HeaderOps{}
	removed := map[string]bool{}
	drop := func(name string) {
		key := strings.ToLower(name)
		if !removed[key] {
			removed[key] = true
			ops.Remove = append(ops.Remove, name)
		}
		kept := ops.Add[:0]
		for _, a := range ops.Add {
			if !strings.EqualFold(a.Name, name) {
				kept = append(kept, a)
			}
		}
		ops.Add = kept
	}
	for _, l := range levels {
		fail := l.fail
		if fail == nil {
			fail = func(string) {}
		}
		adds, rms := l.m.RequestAdd, l.m.RequestRemove
		if response {
			adds, rms = l.m.ResponseAdd, l.m.ResponseRemove
		}
		for i, name := range rms {
			p := fmt.Sprintf("%s%s[%d]", l.path, rmName, i)
			if !isToken(name) || name == "" {
				fail(fmt.Sprintf("%s: invalid header name %q", p, name))
				continue
			}
			if reservedHeader(name) {
				fail(fmt.Sprintf("%s: %q is framed or routed by ferry and cannot be removed", p, name))
				continue
			}
			drop(name)
		}
		for i, hv := range adds {
			p := fmt.Sprintf("%s%s[%d].header", l.path, addName, i)
			if !isToken(hv.Name) || hv.Name == "" {
				fail(fmt.Sprintf("%s.key: invalid header name %q", p, hv.Name))
				continue
			}
			if reservedHeader(hv.Name) {
				fail(fmt.Sprintf("%s.key: %q is framed or routed by ferry and cannot be added", p, hv.Name))
				continue
			}
			if strings.ContainsAny(hv.Value, "\r\n\x00") {
				fail(p + ".value: contains CR, LF or NUL")
				continue
			}
			lit, parts, err := parseValue(hv.Value)
			if err != nil {
				fail(p + ".value: " + err.Error())
				continue
			}
			if !hv.Append {
				drop(hv.Name)
			}
			// Lower-cased: HTTP/2 requires it, HTTP/1.1 does not care.
			ops.Add = append(ops.Add, HeaderAdd{Name: strings.ToLower(hv.Name), Append: hv.Append, lit: lit, parts: parts})
		}
	}
	if len(ops.Remove) == 0 && len(ops.Add) == 0 {
		return nil
	}
	return ops
}
