package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const (
	module = "github.com/ferry-proxy/ferry"
	gnet   = "github.com/panjf2000/gnet/v2"
)

// pkg is one package as go list reports it; paths are relative to the
// module ("proxy", "internal/app").
type pkg struct {
	path    string
	imports map[string][]string // import path -> the kinds of file importing it: "", "test", "xtest"
}

// rules is the import direction: a package's imports, its tests' included,
// must satisfy each of them. Each returns a violation, or "".
func rules() []func(p pkg, imp string) string {
	// gnetUsers are the packages that talk to gnet; measuring sticks
	// outside the product are exempt (see doc.go).
	gnetUsers := []string{"eventloop", "conn"}
	gnetExempt := []string{"bench/forwarder", "bench/upstream"}
	// proxyUsers build the proxy: the composition root, and proxy's own
	// external tests (package proxy_test).
	proxyUsers := []string{"internal/app", "cmd/ferry", "proxy"}
	// adminUsers start the admin API: it is off the data path, so no
	// data-plane package imports it.
	adminUsers := []string{"internal/app", "cmd/ferry", "admin"}
	leaves := []string{"router", "config"}
	return []func(p pkg, imp string) string{
		func(p pkg, imp string) string {
			if within(imp, gnet) && !slices.Contains(gnetUsers, p.path) && !slices.Contains(gnetExempt, p.path) {
				return "only eventloop and conn import gnet"
			}
			return ""
		},
		func(p pkg, imp string) string {
			rel, ours := strings.CutPrefix(imp, module+"/")
			if ours && rel != p.path && slices.ContainsFunc(leaves, func(l string) bool { return within(p.path, l) }) {
				return "router and config import no ferry package"
			}
			return ""
		},
		func(p pkg, imp string) string {
			if within(imp, module+"/proxy") && !slices.Contains(proxyUsers, p.path) {
				return "nothing imports proxy but the composition root (internal/app)"
			}
			return ""
		},
		func(p pkg, imp string) string {
			if within(imp, module+"/admin") && !slices.Contains(adminUsers, p.path) {
				return "nothing imports admin but the composition root (internal/app)"
			}
			return ""
		},
	}
}

// within reports whether path is root or below it.
func within(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}

// violations checks every import of every package against rules.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		imps := make([]string, 0, len(p.imports))
		for imp := range p.imports {
			imps = append(imps, imp)
		}
		slices.Sort(imps)
		for _, imp := range imps {
			for _, rule := range rules() {
				if why := rule(p, imp); why != "" {
					out = append(out, p.path+" imports "+imp+" (from "+kinds(p.imports[imp])+" files): "+why)
				}
			}
		}
	}
	return out
}

func kinds(ks []string) string {
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = map[string]string{"": "package", "test": "in-package test", "xtest": "external test"}[k]
	}
	return strings.Join(names, ", ")
}

// goList lists every package of the module with its imports, under the
// given build flags.
func goList(t *testing.T, flags ...string) []pkg {
	t.Helper()
	args := append([]string{"list"}, flags...)
	args = append(args, "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...")
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var lp struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&lp); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		p := pkg{path: strings.TrimPrefix(strings.TrimPrefix(lp.ImportPath, module), "/"), imports: map[string][]string{}}
		for kind, imps := range map[string][]string{"": lp.Imports, "test": lp.TestImports, "xtest": lp.XTestImports} {
			for _, imp := range imps {
				p.imports[imp] = append(p.imports[imp], kind)
			}
		}
		for _, ks := range p.imports {
			slices.Sort(ks)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportDirection: the module's import graph obeys rules under the
// build configurations make test uses (the production poll_opt build, and
// the race build, which selects the race twins of files).
func TestImportDirection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{name: "poll_opt", flags: []string{"-tags=poll_opt"}},
		{name: "race", flags: []string{"-race"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs := goList(t, tc.flags...)
			// The graph must be the real one, or every rule holds vacuously.
			byPath := map[string]pkg{}
			for _, p := range pkgs {
				byPath[p.path] = p
			}
			for _, want := range []struct{ pkg, imp string }{
				{pkg: "eventloop", imp: gnet},
				{pkg: "conn", imp: gnet},
				{pkg: "internal/app", imp: module + "/proxy"},
				{pkg: "proxy", imp: module + "/router"},
			} {
				if _, ok := byPath[want.pkg].imports[want.imp]; !ok {
					t.Fatalf("go list shows no import of %s by %s: the graph is not the module's", want.imp, want.pkg)
				}
			}
			for _, v := range violations(pkgs) {
				t.Error(v)
			}
		})
	}
}

// TestRulesCatchViolations: each rule rejects what it forbids and lets
// through what it allows, so that TestImportDirection can fail.
func TestRulesCatchViolations(t *testing.T) {
	tests := []struct {
		name string
		pkg  pkg
		want int
	}{
		{name: "upstream imports gnet", pkg: pkg{path: "upstream", imports: map[string][]string{gnet: {""}}}, want: 1},
		{name: "a proxy test imports a gnet subpackage", pkg: pkg{path: "proxy", imports: map[string][]string{gnet + "/pkg/logging": {"xtest"}}}, want: 1},
		{name: "conn imports gnet", pkg: pkg{path: "conn", imports: map[string][]string{gnet: {""}}}, want: 0},
		{name: "the bench forwarder imports gnet", pkg: pkg{path: "bench/forwarder", imports: map[string][]string{gnet: {""}}}, want: 0},
		{name: "router imports upstream", pkg: pkg{path: "router", imports: map[string][]string{module + "/upstream": {""}}}, want: 1},
		{name: "a config test imports testutil", pkg: pkg{path: "config", imports: map[string][]string{module + "/internal/testutil": {"test"}}}, want: 1},
		{name: "router's external test imports router", pkg: pkg{path: "router", imports: map[string][]string{module + "/router": {"xtest"}}}, want: 0},
		{name: "router imports the standard library", pkg: pkg{path: "router", imports: map[string][]string{"strings": {""}}}, want: 0},
		{name: "upstream imports proxy", pkg: pkg{path: "upstream", imports: map[string][]string{module + "/proxy": {""}}}, want: 1},
		{name: "a reliability test imports proxy", pkg: pkg{path: "internal/reliability", imports: map[string][]string{module + "/proxy": {"test"}}}, want: 1},
		{name: "internal/app imports proxy", pkg: pkg{path: "internal/app", imports: map[string][]string{module + "/proxy": {""}}}, want: 0},
		{name: "proxy's external tests import proxy", pkg: pkg{path: "proxy", imports: map[string][]string{module + "/proxy": {"xtest"}}}, want: 0},
		{name: "proxy imports admin", pkg: pkg{path: "proxy", imports: map[string][]string{module + "/admin": {""}}}, want: 1},
		{name: "internal/app imports admin", pkg: pkg{path: "internal/app", imports: map[string][]string{module + "/admin": {""}}}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := violations([]pkg{tc.pkg}); len(got) != tc.want {
				t.Fatalf("%d violations %q, want %d", len(got), got, tc.want)
			}
		})
	}
}
