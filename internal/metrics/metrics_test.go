package metrics

import (
	"errors"
	"math"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// testLabels is a small configuration: two listeners, two virtual hosts,
// two clusters with three hosts.
func testLabels() Labels {
	return Labels{
		Listeners:    []string{"http", "admin-ish"},
		VirtualHosts: []VirtualHost{{Router: "r", Name: "api"}, {Router: "r", Name: "web"}},
		Clusters:     []string{"api", "web"},
		Hosts: []HostLabel{{Cluster: "api", Address: "10.0.0.1:80"}, {Cluster: "api", Address: "10.0.0.2:80"},
			{Cluster: "web", Address: "10.0.0.3:80"}},
	}
}

func newTestRegistry(t testing.TB, loops int) (*Registry, IDs) {
	t.Helper()
	r, err := New(Options{Loops: loops, Causes: []string{"", "bad_request", "no_route", "upstream_timeout"}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := r.Update(testLabels())
	if err != nil {
		t.Fatal(err)
	}
	return r, ids
}

// scrape serves r's collector through client_golang's handler, as the
// admin API and the sink do, and returns the text and its parse.
func scrape(t *testing.T, cs ...prometheus.Collector) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		reg.MustRegister(c)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, text)
	}
	// Every family has its # TYPE line, of the type the parse found.
	for name, f := range fams {
		want := "# TYPE " + name + " " + strings.ToLower(f.GetType().String()) + "\n"
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
		if !strings.HasPrefix(name, Prefix) && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("family %s lacks the %s prefix", name, Prefix)
		}
	}
	return text, fams
}

// value finds the sample of family name whose labels are exactly want and
// returns its value (a histogram's count).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if !sameLabels(got, want) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		default:
			t.Fatalf("%s: unexpected type %s", name, f.GetType())
		}
	}
	t.Fatalf("%s has no sample %v", name, want)
	return 0
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// labelNames lists the label names of family name's first sample.
func labelNames(fams map[string]*dto.MetricFamily, name string) string {
	f := fams[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return "<absent>"
	}
	var out []string
	for _, lp := range f.GetMetric()[0].GetLabel() {
		out = append(out, lp.GetName())
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// request does one proxied request's worth of updates on shard s, as the
// proxy does at the stream's start and its end.
func request(s *Shard, l, v, c, h ID, code int, d time.Duration) {
	lc, rc, cc, hc := s.Listener(l), s.Route(v), s.Cluster(c), s.Host(h)
	lc.Requests.Inc()
	lc.ActiveRequests.Inc()
	rc.Requests.Inc()
	cc.Requests.Inc()
	cc.ActiveRequests.Inc()
	hc.Requests.Inc()
	hc.ActiveRequests.Inc()
	lc.BytesReceived.Add(100)
	cc.BytesSent.Add(120)
	cc.BytesReceived.Add(1000)
	lc.BytesSent.Add(1024)
	cc.ResponseTime.Observe(d / 2)
	hc.ActiveRequests.Dec()
	cc.ActiveRequests.Dec()
	hc.Responses.Count(code)
	cc.Responses.Count(code)
	rc.Responses.Count(code)
	lc.Respond(code)
	lc.Duration.Observe(d)
	lc.ActiveRequests.Dec()
}

func TestExpositionValuesTypesAndLabels(t *testing.T) {
	r, ids := newTestRegistry(t, 2)
	L, V, C, H := ids.Listeners, ids.VirtualHosts, ids.Clusters, ids.Hosts
	// Loop 0: three 200s through api; loop 1: one 503 and one 200 through
	// web, a local reply and a connect failure.
	for range 3 {
		request(r.Shard(0), L[0], V[0], C[0], H[1], 200, 3*time.Millisecond)
	}
	request(r.Shard(1), L[0], V[1], C[1], H[2], 503, 2*time.Second)
	request(r.Shard(1), L[0], V[1], C[1], H[2], 200, 20*time.Millisecond)
	r.Shard(1).Listener(L[0]).LocalReply(3)
	r.Shard(1).Listener(L[0]).Respond(504)
	r.Shard(0).Cluster(C[1]).ConnectFailures.Inc()
	r.Shard(0).Host(H[2]).ConnectFailures.Inc()
	r.Shard(1).Cluster(C[0]).Retries.Inc()
	r.Shard(1).Cluster(C[0]).Timeouts.Inc()
	r.Shard(0).Cluster(C[0]).Pending.Inc()
	// A gauge raised on one loop and lowered on another sums right.
	r.Shard(0).Listener(L[1]).ActiveConnections.Inc()
	r.Shard(0).Listener(L[1]).ActiveConnections.Inc()
	r.Shard(1).Listener(L[1]).ActiveConnections.Dec()
	r.Shard(0).Listener(L[1]).Connections.Add(2)
	r.Shard(1).Loop().Connections.Inc()
	r.Shard(1).Loop().Active.Inc()
	r.Shard(1).Loop().BytesRead.Add(77)
	r.Shard(0).Loop().BytesWritten.Add(88)

	text, fams := scrape(t, r.NewCollector())
	http := map[string]string{"listener": "http"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ferry_listener_requests_total", http, 5},
		{"ferry_listener_requests_active", http, 0},
		{"ferry_listener_received_bytes_total", http, 500},
		{"ferry_listener_sent_bytes_total", http, 5 * 1024},
		{"ferry_listener_responses_total", map[string]string{"listener": "http", "code": "200"}, 4},
		{"ferry_listener_responses_total", map[string]string{"listener": "http", "code": "503"}, 1},
		{"ferry_listener_responses_total", map[string]string{"listener": "http", "code": "504"}, 1},
		{"ferry_listener_local_replies_total", map[string]string{"listener": "http", "cause": "upstream_timeout"}, 1},
		{"ferry_listener_local_replies_total", map[string]string{"listener": "http", "cause": "no_route"}, 0},
		{"ferry_listener_request_duration_seconds", http, 5},
		{"ferry_listener_downstream_connections_active", map[string]string{"listener": "admin-ish"}, 1},
		{"ferry_listener_downstream_connections_total", map[string]string{"listener": "admin-ish"}, 2},
		{"ferry_route_requests_total", map[string]string{"router": "r", "virtual_host": "api"}, 3},
		{"ferry_route_requests_total", map[string]string{"router": "r", "virtual_host": "web"}, 2},
		{"ferry_route_responses_total", map[string]string{"router": "r", "virtual_host": "web", "code_class": "5xx"}, 1},
		{"ferry_route_responses_total", map[string]string{"router": "r", "virtual_host": "web", "code_class": "2xx"}, 1},
		{"ferry_route_responses_total", map[string]string{"router": "r", "virtual_host": "api", "code_class": "4xx"}, 0},
		{"ferry_cluster_upstream_requests_total", map[string]string{"cluster": "api"}, 3},
		{"ferry_cluster_upstream_requests_pending", map[string]string{"cluster": "api"}, 1},
		{"ferry_cluster_upstream_retries_total", map[string]string{"cluster": "api"}, 1},
		{"ferry_cluster_upstream_timeouts_total", map[string]string{"cluster": "api"}, 1},
		{"ferry_cluster_upstream_connect_failures_total", map[string]string{"cluster": "web"}, 1},
		{"ferry_cluster_upstream_sent_bytes_total", map[string]string{"cluster": "web"}, 240},
		{"ferry_cluster_upstream_received_bytes_total", map[string]string{"cluster": "web"}, 2000},
		{"ferry_cluster_upstream_responses_total", map[string]string{"cluster": "web", "code_class": "5xx"}, 1},
		{"ferry_cluster_upstream_response_time_seconds", map[string]string{"cluster": "api"}, 3},
		{"ferry_host_upstream_requests_total", map[string]string{"cluster": "api", "host": "10.0.0.2:80"}, 3},
		{"ferry_host_upstream_requests_total", map[string]string{"cluster": "api", "host": "10.0.0.1:80"}, 0},
		{"ferry_host_upstream_connect_failures_total", map[string]string{"cluster": "web", "host": "10.0.0.3:80"}, 1},
		{"ferry_host_upstream_responses_total", map[string]string{"cluster": "web", "host": "10.0.0.3:80", "code_class": "2xx"}, 1},
		{"ferry_loop_connections_total", map[string]string{"loop": "1"}, 1},
		{"ferry_loop_connections_active", map[string]string{"loop": "0"}, 0},
		{"ferry_loop_read_bytes_total", map[string]string{"loop": "1"}, 77},
		{"ferry_loop_written_bytes_total", map[string]string{"loop": "0"}, 88},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Label names, family by family.
	for name, want := range map[string]string{
		"ferry_listener_requests_total":                "listener",
		"ferry_listener_responses_total":               "code,listener",
		"ferry_listener_local_replies_total":           "cause,listener",
		"ferry_listener_request_duration_seconds":      "listener",
		"ferry_route_requests_total":                   "router,virtual_host",
		"ferry_route_responses_total":                  "code_class,router,virtual_host",
		"ferry_cluster_upstream_responses_total":       "cluster,code_class",
		"ferry_cluster_upstream_response_time_seconds": "cluster",
		"ferry_host_upstream_requests_total":           "cluster,host",
		"ferry_host_upstream_connections_active":       "cluster,host",
		"ferry_loop_connections_total":                 "loop",
	} {
		if got := labelNames(fams, name); got != want {
			t.Errorf("%s labels = %s, want %s", name, got, want)
		}
	}
	// Types, family by family.
	for name, want := range map[string]dto.MetricType{
		"ferry_listener_requests_total":                dto.MetricType_COUNTER,
		"ferry_listener_requests_active":               dto.MetricType_GAUGE,
		"ferry_listener_request_duration_seconds":      dto.MetricType_HISTOGRAM,
		"ferry_cluster_upstream_response_time_seconds": dto.MetricType_HISTOGRAM,
		"ferry_cluster_upstream_requests_pending":      dto.MetricType_GAUGE,
		"ferry_loop_connections_active":                dto.MetricType_GAUGE,
	} {
		if got := fams[name].GetType(); got != want {
			t.Errorf("%s is a %s, want %s", name, got, want)
		}
	}
	// The unnamed cause index 0 has no sample.
	if strings.Contains(text, `cause=""`) {
		t.Error("an unnamed cause was exported")
	}
	// Counter families end in _total, and nothing else does.
	for name, f := range fams {
		if (f.GetType() == dto.MetricType_COUNTER) != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: a %s, named against the conventions", name, f.GetType())
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	r, ids := newTestRegistry(t, 3)
	// One observation on each bound (inclusive: le), one above the last,
	// one negative (counted as 0), spread over the shards.
	for i, b := range bucketBounds {
		r.Shard(i % 3).Listener(ids.Listeners[0]).Duration.Observe(time.Duration(b))
	}
	r.Shard(1).Listener(ids.Listeners[0]).Duration.Observe(time.Minute)
	r.Shard(2).Listener(ids.Listeners[0]).Duration.Observe(-time.Second)
	_, fams := scrape(t, r.NewCollector())
	var h *dto.Histogram
	for _, m := range fams["ferry_listener_request_duration_seconds"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "http" {
			h = m.GetHistogram()
		}
	}
	if h == nil {
		t.Fatal("no histogram for listener http")
	}
	if got, want := h.GetSampleCount(), uint64(NumBuckets+2); got != want {
		t.Fatalf("count = %d, want %d", got, want)
	}
	var sum float64
	for _, b := range bucketBounds {
		sum += float64(b) / 1e9
	}
	sum += 60
	if math.Abs(h.GetSampleSum()-sum) > 1e-6 {
		t.Errorf("sum = %v, want %v", h.GetSampleSum(), sum)
	}
	// The text format spells +Inf out as a last bucket holding everything.
	bounds := append(BucketBounds(), math.Inf(1))
	if len(h.GetBucket()) != NumBuckets+1 {
		t.Fatalf("%d buckets, want %d", len(h.GetBucket()), NumBuckets+1)
	}
	if last := h.GetBucket()[NumBuckets].GetCumulativeCount(); last != uint64(NumBuckets+2) {
		t.Errorf("+Inf bucket = %d, want %d", last, NumBuckets+2)
	}
	for i, b := range h.GetBucket()[:NumBuckets] {
		// Bucket i holds the negative one (as 0) and bounds 0..i.
		if b.GetUpperBound() != bounds[i] || b.GetCumulativeCount() != uint64(i+2) {
			t.Errorf("bucket %d: le=%v count=%d, want le=%v count=%d", i, b.GetUpperBound(), b.GetCumulativeCount(), bounds[i], i+2)
		}
	}
}

func TestReloadKeepsCountsOfUnchangedLabelSets(t *testing.T) {
	r, ids := newTestRegistry(t, 2)
	r.Shard(0).Route(ids.VirtualHosts[0]).Requests.Add(7)
	r.Shard(1).Route(ids.VirtualHosts[1]).Requests.Add(5)
	r.Shard(1).Host(ids.Hosts[0]).Requests.Add(3)
	// Reload: web goes, a new virtual host and a new host come.
	l := testLabels()
	l.VirtualHosts = []VirtualHost{{Router: "r", Name: "new"}, {Router: "r", Name: "api"}}
	l.Hosts = append(l.Hosts[:2:2], HostLabel{Cluster: "web", Address: "10.0.0.9:80"})
	ids2, err := r.Update(l)
	if err != nil {
		t.Fatal(err)
	}
	if ids2.VirtualHosts[1] != ids.VirtualHosts[0] || ids2.Hosts[0] != ids.Hosts[0] || ids2.Listeners[0] != ids.Listeners[0] {
		t.Fatalf("an unchanged label set changed ID: %+v then %+v", ids, ids2)
	}
	if ids2.VirtualHosts[0] == ids.VirtualHosts[1] {
		t.Fatal("a new virtual host took a removed one's ID")
	}
	r.Shard(1).Route(ids2.VirtualHosts[0]).Requests.Inc()
	// A request still in flight on the removed virtual host writes its
	// cells harmlessly.
	r.Shard(0).Route(ids.VirtualHosts[1]).Requests.Inc()
	text, fams := scrape(t, r.NewCollector())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ferry_route_requests_total", map[string]string{"router": "r", "virtual_host": "api"}, 7},
		{"ferry_route_requests_total", map[string]string{"router": "r", "virtual_host": "new"}, 1},
		{"ferry_host_upstream_requests_total", map[string]string{"cluster": "api", "host": "10.0.0.1:80"}, 3},
		{"ferry_host_upstream_requests_total", map[string]string{"cluster": "web", "host": "10.0.0.9:80"}, 0},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, gone := range []string{`virtual_host="web"`, `host="10.0.0.3:80"`} {
		if strings.Contains(text, gone) {
			t.Errorf("removed label set %s still exported", gone)
		}
	}
	// web comes back: its old ID and its counts (never going down).
	ids3, err := r.Update(testLabels())
	if err != nil {
		t.Fatal(err)
	}
	if ids3.VirtualHosts[1] != ids.VirtualHosts[1] {
		t.Fatalf("web came back as ID %d, was %d", ids3.VirtualHosts[1], ids.VirtualHosts[1])
	}
	_, fams = scrape(t, r.NewCollector())
	if got := value(t, fams, "ferry_route_requests_total", map[string]string{"router": "r", "virtual_host": "web"}); got != 6 {
		t.Errorf("web after coming back = %v, want 6", got)
	}
}

func TestUpdateBoundsLabelSets(t *testing.T) {
	r, err := New(Options{Loops: 1, MaxLabelSets: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Update(Labels{Clusters: []string{"a", "b", "a"}}); err != nil {
		t.Fatalf("two distinct clusters under a bound of 3: %v", err)
	}
	_, err = r.Update(Labels{Clusters: []string{"c", "d"}})
	if !errors.Is(err, ErrTooManyLabelSets) || !strings.Contains(err.Error(), "clusters: 2 known and 2 new, at most 3") {
		t.Fatalf("err = %v", err)
	}
	// The refused update changed nothing: a and b are still exported.
	_, fams := scrape(t, r.NewCollector())
	if got := len(fams["ferry_cluster_upstream_requests_total"].GetMetric()); got != 2 {
		t.Fatalf("%d clusters exported after a refused update, want 2", got)
	}
	for _, o := range []Options{{Loops: 0}, {Loops: 1, Causes: make([]string, MaxCauses+1)}, {Loops: 1, MaxLabelSets: -1}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestWorkerAndRuntimeCollectors(t *testing.T) {
	r, _ := newTestRegistry(t, 1)
	w := NewWorkerCollector(func() WorkerStats { return WorkerStats{Size: 8, Busy: 3, Queued: 2, Rejected: 9} })
	reg, err := NewGatherer(r.NewCollector(), w)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.PanicOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"ferry_worker_pool_size": 8, "ferry_worker_pool_busy": 3, "ferry_worker_pool_queued": 2, "ferry_worker_pool_rejected_total": 9,
	} {
		if got := value(t, fams, name, map[string]string{}); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_open_fds", "ferry_listener_requests_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no family %s", name)
		}
	}
	if !regexp.MustCompile(`(?m)^# TYPE ferry_worker_pool_rejected_total counter$`).MatchString(rec.Body.String()) {
		t.Error("no TYPE line for ferry_worker_pool_rejected_total")
	}
}

func TestClass(t *testing.T) {
	for code, want := range map[int]int{99: -1, 100: 0, 199: 0, 200: 1, 404: 3, 599: 4, 600: -1, -5: -1} {
		if got := Class(code); got != want {
			t.Errorf("Class(%d) = %d, want %d", code, got, want)
		}
	}
	var l Listener
	l.Respond(600)
	l.Respond(99)
	l.LocalReply(-1)
	l.LocalReply(MaxCauses)
	for i := range l.codes {
		if l.codes[i].Load() != 0 {
			t.Fatalf("code %d counted from an out-of-range code", i+MinCode)
		}
	}
}
