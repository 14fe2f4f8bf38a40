package metrics

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRequest is one proxied request's worth of updates (request.go
// of the tests: begin and end on listener, virtual host, cluster and host,
// bytes both ways, the status at four levels, both histograms) on one
// shard: the cost metrics add to a request on its loop.
//
//	go test -run=NONE -bench=. -benchmem ./internal/metrics/
func BenchmarkRequest(b *testing.B) {
	r, ids := newTestRegistry(b, 1)
	s := r.Shard(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		request(s, ids.Listeners[0], ids.VirtualHosts[0], ids.Clusters[0], ids.Hosts[i&1], 200, time.Duration(i&0xffff)*time.Microsecond)
	}
}

// BenchmarkRequestParallel runs BenchmarkRequest's updates on every
// GOMAXPROCS goroutine, each on its own shard as loops are: shards share
// no cache line, so the per-request cost should not grow with the
// goroutines.
func BenchmarkRequestParallel(b *testing.B) {
	const shards = 64
	r, ids := newTestRegistry(b, shards)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := r.Shard(int(next.Add(1)-1) % shards)
		i := 0
		for pb.Next() {
			request(s, ids.Listeners[0], ids.VirtualHosts[0], ids.Clusters[0], ids.Hosts[i&1], 200, time.Duration(i&0xffff)*time.Microsecond)
			i++
		}
	})
}

// BenchmarkScrape is one scrape of a mid-size configuration (4 loops, 2
// listeners, 100 virtual hosts, 50 clusters of 4 hosts): off the data
// path, for the record.
func BenchmarkScrape(b *testing.B) {
	r, err := New(Options{Loops: 4, Causes: []string{"", "bad_request", "no_route"}})
	if err != nil {
		b.Fatal(err)
	}
	var l Labels
	l.Listeners = []string{"a", "b"}
	for i := range 100 {
		l.VirtualHosts = append(l.VirtualHosts, VirtualHost{Router: "r", Name: "v" + strconv.Itoa(i)})
	}
	for i := range 50 {
		l.Clusters = append(l.Clusters, "c"+strconv.Itoa(i))
		for j := range 4 {
			l.Hosts = append(l.Hosts, HostLabel{Cluster: "c" + strconv.Itoa(i), Address: "10.0." + strconv.Itoa(i) + "." + strconv.Itoa(j) + ":80"})
		}
	}
	if _, err := r.Update(l); err != nil {
		b.Fatal(err)
	}
	c := r.NewCollector()
	ch := make(chan prometheus.Metric, 1024)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
	}
	close(ch)
	<-done
}
