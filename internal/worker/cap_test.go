package worker

import (
	"context"
	"testing"
)

// TestCap: Cap is the configured size, which the metrics export as
// ferry_worker_pool_size.
func TestCap(t *testing.T) {
	p, err := New(Options{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close(context.Background()) }()
	if got := p.Cap(); got != 3 {
		t.Fatalf("Cap = %d, want 3", got)
	}
}
