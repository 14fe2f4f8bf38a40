package archtest

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// nolintRe matches a comment that is a nolint directive, and the linters
// it names.
var nolintRe = regexp.MustCompile(`^//nolint(:([\w,-]+))?`)

// enabledLinters reads the linters that make lint runs from .golangci.yml:
// the standard set and those enabled on top of it.
func enabledLinters(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".golangci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Linters struct {
			Default string   `yaml:"default"`
			Enable  []string `yaml:"enable"`
		} `yaml:"linters"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf(".golangci.yml: %v", err)
	}
	if cfg.Linters.Default != "standard" {
		t.Fatalf(".golangci.yml: linters.default is %q; this test knows the standard set only", cfg.Linters.Default)
	}
	return append([]string{"errcheck", "govet", "ineffassign", "staticcheck", "unused"}, cfg.Linters.Enable...)
}

// TestNolintNamesARunningLinter: nolintlint makes every //nolint name its
// linter, give a reason and suppress a real finding, but it cannot see a
// directive for a linter that make lint does not run (//nolint:gosec with
// gosec off suppresses nothing and only looks like a reviewed exception).
// Every //nolint in the module must name linters that run.
func TestNolintNamesARunningLinter(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	enabled := enabledLinters(t, root)
	seen := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		fs := token.NewFileSet()
		f, err := parser.ParseFile(fs, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				m := nolintRe.FindStringSubmatch(c.Text)
				if m == nil {
					continue
				}
				seen++
				pos := fs.Position(c.Pos())
				rel, _ := filepath.Rel(root, pos.Filename)
				if m[2] == "" {
					t.Errorf("%s:%d: //nolint names no linter", rel, pos.Line)
					continue
				}
				for _, l := range strings.Split(m[2], ",") {
					if !slices.Contains(enabled, l) {
						t.Errorf("%s:%d: //nolint:%s names a linter make lint does not run: it suppresses nothing", rel, pos.Line, l)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("no //nolint found: the walk did not see the module")
	}
}
