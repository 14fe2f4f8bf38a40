package conn

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestFileWatch: the first Check loads (the files were read before the
// watch stamped them); later ones only when a file changed; a load that
// fails keeps being retried until one succeeds; a load that finds nothing
// new is not counted; no files, no watch.
func TestFileWatch(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	var loads int
	var fail error
	news := false
	w := NewFileWatch([]string{f}, func() (bool, error) {
		if fail != nil {
			return false, fail
		}
		loads++
		return news, nil
	})
	if ok, err := w.Check(); ok || err != nil || loads != 1 || w.Loads.Load() != 0 {
		t.Fatalf("first check: %v %v, %d loads, %d counted; want one load finding nothing new", ok, err, loads, w.Loads.Load())
	}
	if ok, err := w.Check(); ok || err != nil || loads != 1 {
		t.Fatalf("unchanged: %v %v, %d loads", ok, err, loads)
	}
	news = true
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
	if ok, err := w.Check(); !ok || err != nil || loads != 2 || w.Loads.Load() != 1 {
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
	if w := NewFileWatch(nil, nil); w != nil {
		t.Fatalf("no files: %v", w)
	}
}
