package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfig feeds arbitrary bytes to Parse in both formats. Parse must
// never panic; whatever it accepts must survive Validate and Warnings, and
// its JSON dump must parse again.
func FuzzConfig(f *testing.F) {
	for _, pattern := range []string{"testdata/*/*.json", "testdata/*/*.yaml", "testdata/golden/*.golden"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			input, _, _ := strings.Cut(string(data), goldenSep)
			f.Add([]byte(input), strings.Contains(file, ".yaml"))
		}
	}
	f.Add([]byte(`{"ferry":{"timeouts":{"idle":"-1s"}}}`), false)
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"), true)
	f.Add([]byte("<<: {servers: []}\n"), true)
	f.Add([]byte(`{"servers":[{"processor":"auto","listeners":[{"bind_port":null}]}]}`), false)
	f.Fuzz(func(t *testing.T, data []byte, isYAML bool) {
		format := FormatJSON
		if isYAML {
			format = FormatYAML
		}
		c, err := Parse(data, format)
		if err != nil {
			return
		}
		_ = c.Validate() // may fail; must not panic
		_ = c.Warnings() // must not panic
		dump, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		if _, err := Parse(dump, FormatJSON); err != nil {
			t.Fatalf("reparse of dump failed: %v\ninput: %q\ndump: %s", err, data, dump)
		}
	})
}
