package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sample is one named counter or gauge.
type Sample struct {
	// Name is the counter's name, e.g. downstream_rq_total.
	Name string `json:"name"`
	// Value is its current value.
	Value int64 `json:"value"`
	// Gauge marks a value that goes up and down (else a counter).
	Gauge bool `json:"-"`
	// Help describes it for /metrics; empty gives a generic help line.
	Help string `json:"-"`
}

// Listener describes one listener.
type Listener struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Protocol string `json:"protocol"`
}

// Host describes one upstream host.
type Host struct {
	Address         string `json:"address"`
	Healthy         bool   `json:"healthy"`
	Weight          uint32 `json:"weight"`
	ActiveRequests  int64  `json:"active_requests"`
	Requests        uint64 `json:"requests"`
	Connections     int64  `json:"connections"`
	ConnectFailures uint64 `json:"connect_failures"`
	// HealthCheck is the last active health check's verdict: "passed",
	// "failed", or empty (none yet, or none configured).
	HealthCheck string `json:"health_check,omitempty"`
	// HealthCheckFailed says that health checks hold the host out of
	// rotation (unhealthy_threshold failures in a row).
	HealthCheckFailed bool `json:"health_check_failed"`
	// ChecksPassed and ChecksFailed count the host's probes.
	ChecksPassed uint64 `json:"health_checks_passed"`
	ChecksFailed uint64 `json:"health_checks_failed"`
	// Ejected says that outlier detection holds the host out of rotation,
	// until EjectedUntil (RFC 3339).
	Ejected      bool   `json:"ejected"`
	EjectedUntil string `json:"ejected_until,omitempty"`
	// Ejections counts the host's outlier ejections.
	Ejections uint64 `json:"ejections"`
}

// Cluster describes one cluster and its hosts.
type Cluster struct {
	Name  string `json:"name"`
	LB    string `json:"lb_type"`
	Hosts []Host `json:"hosts"`
	// LBPanics counts picks made with no healthy host (panic mode: every
	// host could be picked).
	LBPanics uint64 `json:"lb_panics"`
}

// Version identifies the build.
type Version struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Go       string `json:"go"`
}

// Backend is what the admin API reads and drives. Every method must be
// safe from any goroutine.
type Backend interface {
	// Version identifies the build.
	Version() Version
	// ConfigDump is the running configuration with private keys and
	// other secrets redacted, as JSON.
	ConfigDump() ([]byte, error)
	// Stats lists every counter and gauge.
	Stats() []Sample
	// Listeners lists the listeners.
	Listeners() []Listener
	// Clusters lists the clusters.
	Clusters() []Cluster
	// Draining reports whether a drain has begun.
	Draining() bool
	// Drain begins a graceful drain (as SIGTERM does) and returns at once.
	Drain()
	// Features lists what this build implements.
	Features() map[string]bool
	// Reload re-reads the configuration and swaps what can change while
	// serving; an error says why it was refused.
	Reload() error
	// ReloadState describes the reloads so far, for /api/v1/states.
	ReloadState() any
}

// Options configure a Server.
type Options struct {
	// Address is host:port to listen on (port 0 picks one).
	Address string
	// Backend answers the endpoints. Required.
	Backend Backend
	// Level is the process log level that update_loglevel changes; nil
	// makes both loglevel endpoints answer 501.
	Level *slog.LevelVar
	// Logger receives the admin server's own logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// Gatherer, when set, is what /metrics serves (it should hold
	// NewCollector(Backend) for the Backend's counters); nil means a
	// registry of the Backend's counters alone.
	Gatherer prometheus.Gatherer
	// Listener, when set, is served instead of listening on Address: the
	// socket a running ferry handed over in a smooth upgrade
	// (docs/upgrade.md). Start owns it from then on.
	Listener net.Listener
}

// Server is a running admin API.
type Server struct {
	o   Options
	ln  net.Listener
	srv *http.Server
	reg prometheus.Gatherer
	err chan error
}

// Start listens on o.Address and serves until Close. Any goroutine.
func Start(o Options) (*Server, error) {
	if o.Backend == nil {
		return nil, errors.New("admin: no backend")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ln := o.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Address); err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
	}
	if ip := net.ParseIP(hostOf(o.Address)); ip == nil || !ip.IsLoopback() {
		o.Logger.Warn("admin API listens beyond loopback: anyone who reaches it can drain ferry and read its config",
			"address", ln.Addr().String())
	}
	s := &Server{o: o, ln: ln, reg: o.Gatherer, err: make(chan error, 1)}
	if s.reg == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector{b: o.Backend})
		s.reg = reg
	}
	s.srv = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// hostOf returns the host part of a host:port, or "" when it has none.
func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}

// Addr is the bound address. Any goroutine.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Listener is the listening socket, for handing it over (docs/upgrade.md).
func (s *Server) Listener() net.Listener { return s.ln }

// Close stops the server, waiting for handlers up to ctx. Any goroutine.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.err; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// routes builds the mux.
func (s *Server) routes() http.Handler {
	b := s.o.Backend
	m := http.NewServeMux()
	m.HandleFunc("GET /api/v1/version", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, b.Version()) })
	m.HandleFunc("GET /api/v1/config_dump", func(w http.ResponseWriter, _ *http.Request) {
		d, err := b.ConfigDump()
		if err != nil {
			http.Error(w, "config_dump: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(d)
	})
	m.HandleFunc("GET /api/v1/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, statsMap(b.Stats(), "")) })
	m.HandleFunc("GET /api/v1/stats_glob", s.statsGlob)
	m.HandleFunc("GET /api/v1/get_loglevel", s.getLevel)
	m.HandleFunc("/api/v1/update_loglevel", postOnly(s.updateLevel))
	m.HandleFunc("GET /api/v1/states", func(w http.ResponseWriter, _ *http.Request) {
		state := "running"
		if b.Draining() {
			state = "draining"
		}
		writeJSON(w, map[string]any{"state": state, "reload": b.ReloadState()})
	})
	m.HandleFunc("/api/v1/reload", postOnly(func(w http.ResponseWriter, _ *http.Request) {
		if err := b.Reload(); err != nil {
			http.Error(w, "reload refused: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
		_, _ = w.Write([]byte("reloaded\n"))
	}))
	m.HandleFunc("GET /api/v1/features", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, b.Features()) })
	m.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if b.Draining() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	m.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("live\n")) })
	m.HandleFunc("GET /listeners", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, b.Listeners()) })
	m.HandleFunc("GET /clusters", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, b.Clusters()) })
	m.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.o.Logger}}))
	m.HandleFunc("/drain_listeners", postOnly(func(w http.ResponseWriter, _ *http.Request) {
		b.Drain()
		_, _ = w.Write([]byte("draining\n"))
	}))
	return m
}

// postOnly answers 405 with Allow: POST to any other method.
func postOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed: this endpoint changes state; use POST", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

// statsGlob answers the stats whose name matches ?key=GLOB.
func (s *Server) statsGlob(w http.ResponseWriter, r *http.Request) {
	pat := r.URL.Query().Get("key")
	if pat == "" {
		http.Error(w, "stats_glob: missing ?key=GLOB", http.StatusBadRequest)
		return
	}
	if _, err := path.Match(pat, ""); err != nil {
		http.Error(w, "stats_glob: bad pattern "+pat+": "+err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, statsMap(s.o.Backend.Stats(), pat))
}

// statsMap turns samples into a name → value object, keeping those that
// match pat (all when empty).
func statsMap(samples []Sample, pat string) map[string]int64 {
	out := make(map[string]int64, len(samples))
	for _, sm := range samples {
		if pat != "" {
			if ok, _ := path.Match(pat, sm.Name); !ok {
				continue
			}
		}
		out[sm.Name] = sm.Value
	}
	return out
}

// levelNames are the levels update_loglevel takes, as MOSN spells them too.
var levelNames = map[string]slog.Level{ //nolint:gochecknoglobals // read-only table
	"debug": slog.LevelDebug, "trace": slog.LevelDebug, "info": slog.LevelInfo,
	"warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError, "fatal": slog.LevelError,
}

func (s *Server) getLevel(w http.ResponseWriter, _ *http.Request) {
	if s.o.Level == nil {
		http.Error(w, "log level is not adjustable", http.StatusNotImplemented)
		return
	}
	writeJSON(w, map[string]string{"level": strings.ToLower(s.o.Level.Level().String())})
}

func (s *Server) updateLevel(w http.ResponseWriter, r *http.Request) {
	if s.o.Level == nil {
		http.Error(w, "log level is not adjustable", http.StatusNotImplemented)
		return
	}
	name := strings.ToLower(r.URL.Query().Get("level"))
	if name == "" {
		_ = r.ParseForm()
		name = strings.ToLower(r.Form.Get("level"))
	}
	l, ok := levelNames[name]
	if !ok {
		names := make([]string, 0, len(levelNames))
		for n := range levelNames {
			names = append(names, n)
		}
		sort.Strings(names)
		http.Error(w, fmt.Sprintf("update_loglevel: unknown level %q; want one of %s", name, strings.Join(names, ", ")),
			http.StatusBadRequest)
		return
	}
	s.o.Level.Set(l)
	s.o.Logger.Info("log level changed", "level", l.String())
	writeJSON(w, map[string]string{"level": strings.ToLower(l.String())})
}

// writeJSON writes v as indented JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

// slogPrinter adapts a logger to promhttp's error log.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("metrics", "err", fmt.Sprint(v...)) }
