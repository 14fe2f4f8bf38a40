package conn

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestFileWatch: Check loads again only when a file changed; a load that
// fails keeps being retried until one succeeds; no files, no watch.
func TestFileWatch(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	var loads int
	var fail error
	w, err := NewFileWatch([]string{f}, func() error {
		if fail != nil {
			return fail
		}
		loads++
		return nil
	})
	if err != nil || w == nil {
		t.Fatal(w, err)
	}
	if ok, err := w.Check(); ok || err != nil || loads != 0 {
		t.Fatalf("unchanged: %v %v, %d loads", ok, err, loads)
	}
	if err := os.WriteFile(f, []byte("two, longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	fail = errors.New("half written")
	for range 2 {
		if ok, err := w.Check(); ok || !errors.Is(err, fail) {
			t.Fatalf("failing load: %v %v", ok, err)
		}
	}
	fail = nil
	if ok, err := w.Check(); !ok || err != nil || loads != 1 || w.Loads.Load() != 1 {
		t.Fatalf("changed: %v %v, %d loads", ok, err, loads)
	}
	if ok, _ := w.Check(); ok {
		t.Fatal("loaded again with no change")
	}
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Check(); err == nil {
		t.Fatal("a missing file is no error")
	}
	if w, err := NewFileWatch(nil, nil); w != nil || err != nil {
		t.Fatalf("no files: %v %v", w, err)
	}
}
