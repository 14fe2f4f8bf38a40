package router

import (
	"strings"
	"testing"
)

// hdr is one test header.
type hdr struct{ name, value string }

// headers is a HeaderGetter over a slice; it does not allocate.
type headers []hdr

func (h headers) Get(name string) ([]byte, bool) {
	for _, kv := range h {
		if strings.EqualFold(kv.name, name) {
			return []byte(kv.value), true
		}
	}
	return nil, false
}

// byteHeaders is a HeaderGetter whose Get returns stored bytes, like the
// codec's request; headers converts strings and so allocates.
type byteHeaders []struct {
	name  string
	value []byte
}

func (h byteHeaders) Get(name string) ([]byte, bool) {
	for _, kv := range h {
		if strings.EqualFold(kv.name, name) {
			return kv.value, true
		}
	}
	return nil, false
}

// mustTable builds spec or fails the test.
func mustTable(tb testing.TB, spec TableSpec) *Table {
	tb.Helper()
	t, err := NewTable(spec)
	if err != nil {
		tb.Fatalf("NewTable: %v", err)
	}
	return t
}

// to returns a cluster action for name.
func to(name string) *ClusterAction { return &ClusterAction{Cluster: name} }

// vhost returns a virtual host named name with one catch-all route to a
// cluster of the same name.
func vhost(name string, domains ...string) VirtualHostSpec {
	return VirtualHostSpec{
		Name:    name,
		Domains: domains,
		Routes:  []RouteSpec{{Name: name, Match: MatchSpec{Prefix: "/"}, Cluster: to(name)}},
	}
}

// routeName returns the matched route's name, or "<nil>".
func routeName(rt *Route) string {
	if rt == nil {
		return "<nil>"
	}
	return rt.Name()
}
