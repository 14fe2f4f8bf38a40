package app

import (
	"strings"
	"syscall"
	"testing"

	"github.com/ferry-proxy/ferry/internal/upgrade"
)

func closeSockets(ls []upgrade.Listener) {
	for _, l := range ls {
		for _, fd := range l.FDs {
			_ = syscall.Close(fd)
		}
	}
}

// A second App started over the first one's sockets serves the same
// listener, admin API and metrics sink addresses; once the first hands
// over, the second answers on all three. (cmd/ferry's
// TestZeroLossReloadUpgradeStop runs the same between two processes,
// under load.)
func TestHandOverInProcess(t *testing.T) {
	up := echoUpstream(t)
	route := `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`
	old := startWithSinks(t, withSinks(t, buildCfg(t, route, "", up, false), `{"port":9464}`))
	ls, err := old.ListenerSockets()
	if err != nil {
		t.Fatal(err)
	}
	defer closeSockets(ls)
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	if got := strings.Join(names, ","); !strings.Contains(got, AdminSocket) || !strings.Contains(got, sinkSocket) {
		t.Fatalf("sockets handed over: %s; want the listener, the admin API's and the sink's", got)
	}
	next := startWith(t, withSinks(t, buildCfg(t, route, "", up, false), `{"port":9464}`),
		Options{AdminAddress: "127.0.0.1:0", MetricsSinkAddress: "127.0.0.1:0", Inherit: ls})
	if a, b := next.Addrs()[0].String(), old.Addrs()[0].String(); a != b {
		t.Fatalf("listener at %s, want the inherited %s", a, b)
	}
	if a, b := next.AdminAddr().String(), old.AdminAddr().String(); a != b {
		t.Fatalf("admin API at %s, want the inherited %s", a, b)
	}
	if a, b := next.MetricsSinkAddrs()[0].String(), old.MetricsSinkAddrs()[0].String(); a != b {
		t.Fatalf("metrics sink at %s, want the inherited %s", a, b)
	}
	sink := "http://" + old.MetricsSinkAddrs()[0].String() + "/metrics"
	admin := "http://" + old.AdminAddr().String() + "/api/v1/version"
	if err := old.HandOver(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if code, _ := get(t, next, "/x"); code != 200 {
			t.Fatalf("proxied GET after the handover = %d", code)
		}
		if code, _ := fetch(t, admin); code != 200 {
			t.Fatalf("admin API after the handover = %d", code)
		}
		if code, _ := fetch(t, sink); code != 200 {
			t.Fatalf("metrics sink after the handover = %d", code)
		}
	}
}

func TestInheritedListenersMustMatch(t *testing.T) {
	up := echoUpstream(t)
	cfg := buildCfg(t, `{"match":{"prefix":"/"},"route":{"cluster_name":"c"}}`, "", up, false)
	_, err := New(cfg, Options{Logger: quietLogger(), Inherit: []upgrade.Listener{{Name: "other", FDs: []int{}}}})
	if err == nil || !strings.Contains(err.Error(), "hands over the listeners [other]") {
		t.Fatalf("New with another listener set: %v", err)
	}
}
