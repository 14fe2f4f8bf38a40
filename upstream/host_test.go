package upstream

import (
	"sync"
	"testing"
)

func TestHostCounters(t *testing.T) {
	h := newHost("c", HostSpec{Address: "10.0.0.1:80", Weight: 4})
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "address", got: h.Address(), want: "10.0.0.1:80"},
		{name: "cluster", got: h.ClusterName(), want: "c"},
		{name: "string", got: h.String(), want: "c/10.0.0.1:80"},
		{name: "weight", got: h.Weight(), want: uint32(4)},
		{name: "healthy when new", got: h.Healthy(), want: true},
		{name: "not removed when new", got: h.Removed(), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	h.IncActive()
	h.IncActive()
	h.DecActive()
	if h.Active() != 1 || h.Requests() != 2 {
		t.Fatalf("active %d requests %d, want 1 2", h.Active(), h.Requests())
	}
	if n := h.AddConn(3); n != 3 || h.Conns() != 3 {
		t.Fatalf("AddConn = %d, Conns = %d", n, h.Conns())
	}
	h.connectFailed()
	if h.ConnectFailures() != 1 {
		t.Fatalf("ConnectFailures = %d", h.ConnectFailures())
	}
	h.SetHealthy(false)
	if h.Healthy() {
		t.Fatal("SetHealthy(false) ignored")
	}
}

func TestTryAddConnNeverOvershoots(t *testing.T) {
	const limit = 100
	h := newHost("c", HostSpec{Address: "a:1", Weight: 1})
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			n := 0
			for range 50 {
				if h.TryAddConn(limit) {
					n++
				}
			}
			mu.Lock()
			won += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if won != limit || h.Conns() != limit {
		t.Fatalf("won %d slots, Conns %d; want %d", won, h.Conns(), limit)
	}
}
