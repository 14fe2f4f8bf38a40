package router

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// SpecError is one problem found by NewTable. VHost and Route are indexes
// into the spec (-1 when the problem is not about a virtual host or a
// route); the names are copied from the spec for the message.
type SpecError struct {
	Table     string
	VHost     int
	VHostName string
	Route     int
	RouteName string
	Msg       string
	Err       error // underlying cause, e.g. a regexp error; may be nil
}

// Error formats the location and the problem, e.g.
// `router: table "main": vhost[1] "api": route[0] "users": bad regex: …`.
func (e *SpecError) Error() string {
	var b strings.Builder
	b.WriteString("router: ")
	if e.Table != "" {
		fmt.Fprintf(&b, "table %q: ", e.Table)
	}
	if e.VHost >= 0 {
		writeLoc(&b, "vhost", e.VHost, e.VHostName)
	}
	if e.Route >= 0 {
		writeLoc(&b, "route", e.Route, e.RouteName)
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *SpecError) Unwrap() error { return e.Err }

func writeLoc(b *strings.Builder, what string, i int, name string) {
	fmt.Fprintf(b, "%s[%d]", what, i)
	if name != "" {
		fmt.Fprintf(b, " %q", name)
	}
	b.WriteString(": ")
}

// builder accumulates a Table and the problems found on the way.
type builder struct {
	spec    *TableSpec
	t       *Table
	errs    []error
	domains map[string]int // lower-cased domain → vhost index
	names   map[string]int // vhost name → vhost index
	suffix  map[int]map[string]*virtualHost
	prefix  map[int]map[string]*virtualHost
}

// fail records a problem at vhost vi and route ri (-1 for none).
func (b *builder) fail(vi, ri int, cause error, format string, args ...any) {
	e := &SpecError{Table: b.spec.Name, VHost: vi, Route: ri, Msg: fmt.Sprintf(format, args...), Err: cause}
	if vi >= 0 {
		vs := &b.spec.VirtualHosts[vi]
		e.VHostName = vs.Name
		if ri >= 0 {
			e.RouteName = vs.Routes[ri].Name
		}
	}
	b.errs = append(b.errs, e)
}

// NewTable validates spec and compiles it into an immutable Table. It
// reports every problem found, joined, each a *SpecError naming the
// offending virtual host and route by index (and name, when set). The spec
// is copied: later changes to it do not affect the Table. Any goroutine.
func NewTable(spec TableSpec) (*Table, error) {
	b := &builder{
		spec:    &spec,
		t:       &Table{name: spec.Name, exact: make(map[string]*virtualHost)},
		domains: make(map[string]int),
		names:   make(map[string]int),
		suffix:  make(map[int]map[string]*virtualHost),
		prefix:  make(map[int]map[string]*virtualHost),
	}
	b.checkMutations(&spec.Headers, -1)
	for vi := range spec.VirtualHosts {
		b.addVirtualHost(vi)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	b.t.suffixes = groups(b.suffix)
	b.t.prefixes = groups(b.prefix)
	return b.t, nil
}

// groups turns length-keyed maps into a slice sorted longest first.
func groups(m map[int]map[string]*virtualHost) []wildcardGroup {
	out := make([]wildcardGroup, 0, len(m))
	for n, g := range m {
		out = append(out, wildcardGroup{n: n, m: g})
	}
	slices.SortFunc(out, func(a, b wildcardGroup) int { return b.n - a.n })
	return out
}

func (b *builder) addVirtualHost(vi int) {
	vs := &b.spec.VirtualHosts[vi]
	vh := &virtualHost{name: vs.Name, routes: make([]Route, 0, len(vs.Routes))}
	if vs.Name != "" {
		if prev, dup := b.names[vs.Name]; dup {
			b.fail(vi, -1, nil, "duplicate virtual host name (also vhost[%d])", prev)
		} else {
			b.names[vs.Name] = vi
		}
	}
	if len(vs.Domains) == 0 {
		b.fail(vi, -1, nil, "no domains")
	}
	b.checkMutations(&vs.Headers, vi)
	for _, d := range vs.Domains {
		b.addDomain(vi, d, vh)
	}
	if len(vs.Routes) == 0 {
		b.fail(vi, -1, nil, "no routes")
	}
	for ri := range vs.Routes {
		rt, ok := b.buildRoute(vi, ri)
		switch {
		case !ok:
		case rt.kind == pathConnect:
			vh.connect = append(vh.connect, rt)
			b.t.connect = true
		default:
			vh.routes = append(vh.routes, rt)
		}
		if ok && rt.cluster != nil {
			for _, u := range rt.cluster.Upgrades {
				if u.Enabled && !slices.Contains(b.t.upgrades, u.Type) {
					b.t.upgrades = append(b.t.upgrades, u.Type)
				}
			}
		}
	}
}

// checkMutations reports the invalid header mutations of a virtual host
// (vi) or of the table (vi -1), once; the routes compile them silently.
func (b *builder) checkMutations(m *HeaderMutations, vi int) {
	l := []mutationLevel{{m: m, fail: func(msg string) { b.fail(vi, -1, nil, "%s", msg) }}}
	buildOps(l, false)
	buildOps(l, true)
}

// addDomain validates d and indexes it for vh.
func (b *builder) addDomain(vi int, d string, vh *virtualHost) {
	if msg := checkDomain(d); msg != "" {
		b.fail(vi, -1, nil, "invalid domain %q: %s", d, msg)
		return
	}
	key := strings.ToLower(d)
	if prev, dup := b.domains[key]; dup {
		b.fail(vi, -1, nil, "duplicate domain %q (also in vhost[%d])", d, prev)
		return
	}
	b.domains[key] = vi
	switch {
	case key == "*":
		b.t.catchAll = vh
	case key[0] == '*':
		addGroup(b.suffix, key[1:], vh)
	case key[len(key)-1] == '*':
		addGroup(b.prefix, key[:len(key)-1], vh)
	default:
		b.t.exact[key] = vh
	}
}

func addGroup(m map[int]map[string]*virtualHost, key string, vh *virtualHost) {
	g := m[len(key)]
	if g == nil {
		g = make(map[string]*virtualHost)
		m[len(key)] = g
	}
	g[key] = vh
}

// checkDomain returns why d is not a valid domain pattern, or "".
func checkDomain(d string) string {
	switch {
	case d == "":
		return "empty"
	case d == "*":
		return ""
	case len(d) > maxDomainLen:
		return fmt.Sprintf("longer than %d bytes", maxDomainLen)
	}
	for i := range len(d) {
		c := d[i]
		switch {
		case c == '*':
			if i != 0 && i != len(d)-1 {
				return "wildcard '*' only allowed first or last"
			}
			if i == 0 && d[len(d)-1] == '*' {
				return "wildcard '*' at both ends"
			}
		case !isDomainByte(c):
			return fmt.Sprintf("invalid character %q", c)
		}
	}
	return ""
}

// isDomainByte reports whether c may appear in a host[:port] pattern:
// letters, digits, '-', '.', '_', ':' and IPv6 brackets.
func isDomainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._:[]", c) >= 0
}

// compileFull compiles expr anchored for a full match.
func compileFull(expr string, fold bool) (*regexp.Regexp, error) {
	flags := ""
	if fold {
		flags = "(?i)"
	}
	return regexp.Compile(flags + `^(?:` + expr + `)$`)
}
