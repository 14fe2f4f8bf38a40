package metrics

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestConcurrentScrapeUpdateAndReload: loops update their shards while
// scrapes read them and reloads grow the tables under them; run with
// -race. No count is lost: the totals after are exact.
func TestConcurrentScrapeUpdateAndReload(t *testing.T) {
	const loops, perLoop = 4, 2000
	r, ids := newTestRegistry(t, loops)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r.NewCollector())

	stop := make(chan struct{})
	var bg sync.WaitGroup
	errs := make(chan error, 2)
	bg.Add(2)
	go func() { // scraper
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := reg.Gather(); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // reloader: each reload adds label sets, so tables grow
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l := testLabels()
			for j := range 10 {
				l.VirtualHosts = append(l.VirtualHosts, VirtualHost{Router: "r", Name: fmt.Sprintf("v%d-%d", i, j)})
				l.Hosts = append(l.Hosts, HostLabel{Cluster: "api", Address: fmt.Sprintf("10.1.%d.%d:80", i%250, j)})
			}
			if _, err := r.Update(l); err != nil {
				errs <- err
				return
			}
			if i >= 200 {
				<-stop
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for n := range loops {
		wg.Go(func() {
			s := r.Shard(n)
			for i := range perLoop {
				request(s, ids.Listeners[0], ids.VirtualHosts[i%2], ids.Clusters[0], ids.Hosts[i%2], 200+i%400, time.Duration(i)*time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Back to the original labels, then check the totals.
	if _, err := r.Update(testLabels()); err != nil {
		t.Fatal(err)
	}
	_, fams := scrape(t, r.NewCollector())
	total := float64(loops * perLoop)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ferry_listener_requests_total", map[string]string{"listener": "http"}, total},
		{"ferry_listener_requests_active", map[string]string{"listener": "http"}, 0},
		{"ferry_listener_request_duration_seconds", map[string]string{"listener": "http"}, total},
		{"ferry_route_requests_total", map[string]string{"router": "r", "virtual_host": "api"}, total / 2},
		{"ferry_route_requests_total", map[string]string{"router": "r", "virtual_host": "web"}, total / 2},
		{"ferry_cluster_upstream_requests_total", map[string]string{"cluster": "api"}, total},
		{"ferry_cluster_upstream_response_time_seconds", map[string]string{"cluster": "api"}, total},
		{"ferry_host_upstream_requests_total", map[string]string{"cluster": "api", "host": "10.0.0.1:80"}, total / 2},
		{"ferry_listener_sent_bytes_total", map[string]string{"listener": "http"}, total * 1024},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	var responses float64
	for _, m := range fams["ferry_listener_responses_total"].GetMetric() {
		responses += m.GetCounter().GetValue()
	}
	if responses != total {
		t.Errorf("responses by code sum to %v, want %v", responses, total)
	}
}
