package app

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ferry-proxy/ferry/admin"
)

// adminBackend adapts the running App to the admin API. Every method is
// safe from any goroutine: it reads atomics, snapshots and the immutable
// config.
type adminBackend struct {
	a *App
	// drainOnce closes a.drainReq once.
	drainOnce sync.Once
}

var _ admin.Backend = (*adminBackend)(nil)

// Version implements admin.Backend.
func (b *adminBackend) Version() admin.Version { return BuildVersion(b.a.version) }

// BuildVersion is the version of this binary: linked, the module version
// from the build info, or "dev", with the VCS revision when the build
// recorded one. Any goroutine.
func BuildVersion(linked string) admin.Version {
	v := admin.Version{Version: linked, Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if v.Version == "" || v.Version == "dev" {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v.Version = mv
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			if s.Value == "true" && v.Revision != "" {
				v.Revision += "+dirty"
			}
		}
	}
	return v
}

// ConfigDump implements admin.Backend.
func (b *adminBackend) ConfigDump() ([]byte, error) {
	return json.MarshalIndent(b.a.Config().Redacted(), "", "  ")
}

// Stats implements admin.Backend.
func (b *adminBackend) Stats() []admin.Sample {
	snap := b.a.srv.Stats().Set().Snapshot()
	out := make([]admin.Sample, 0, len(snap)+2)
	for _, s := range snap {
		out = append(out, admin.Sample{Name: s.Name, Value: s.Value, Gauge: s.Gauge})
	}
	out = append(out,
		admin.Sample{Name: "cx_open", Value: b.a.tracker.Open(), Gauge: true,
			Help: "Downstream and upstream sockets ferry holds."},
		admin.Sample{Name: "event_loops", Value: int64(b.a.eng.NumLoops()), Gauge: true, Help: "Event loops running."},
		admin.Sample{Name: "config_reload_success", Value: int64(b.a.reload.ok.Load()), // counts stay far below 2^63
			Help: "Reloads applied (SIGHUP, POST /api/v1/reload)."},
		admin.Sample{Name: "config_reload_refused", Value: int64(b.a.reload.failed.Load()), // counts stay far below 2^63
			Help: "Reloads refused: the running config kept serving."})
	return out
}

// Listeners implements admin.Backend.
func (b *adminBackend) Listeners() []admin.Listener {
	addrs := b.a.eng.Addrs()
	out := make([]admin.Listener, 0, len(b.a.listeners))
	for i, l := range b.a.eng.Listeners() {
		if l.Removed() || l.Spare() {
			continue
		}
		al := admin.Listener{Name: l.Name, Address: l.Address}
		al.Protocol = b.a.protocol(i)
		if i < len(addrs) && addrs[i] != nil {
			al.Address = addrs[i].String()
		}
		out = append(out, al)
	}
	return out
}

// Clusters implements admin.Backend.
func (b *adminBackend) Clusters() []admin.Cluster {
	cs := b.a.clusters.Clusters()
	out := make([]admin.Cluster, 0, len(cs))
	for _, c := range cs {
		ac := admin.Cluster{Name: c.Name(), LB: c.Spec.LB.String(), Hosts: []admin.Host{}, LBPanics: c.Stats().LBPanics}
		for _, h := range c.Hosts() {
			ah := admin.Host{Address: h.Address(), Healthy: h.Healthy(), Weight: h.Weight(),
				ActiveRequests: h.Active(), Requests: h.Requests(), Connections: h.Conns(),
				ConnectFailures: h.ConnectFailures(), HealthCheck: h.HealthCheckResult(), HealthCheckFailed: h.CheckFailedNow(),
				Ejected: h.Ejected(), Ejections: h.Ejections()}
			ah.ChecksPassed, ah.ChecksFailed = h.HealthChecks()
			if u := h.EjectedUntil(); !u.IsZero() {
				ah.EjectedUntil = u.UTC().Format(time.RFC3339Nano)
			}
			ac.Hosts = append(ac.Hosts, ah)
		}
		out = append(out, ac)
	}
	return out
}

// Draining implements admin.Backend.
func (b *adminBackend) Draining() bool { return b.a.draining.Load() }

// Drain implements admin.Backend: it asks the process to drain, as
// SIGTERM does (see App.DrainRequested).
func (b *adminBackend) Drain() { b.drainOnce.Do(func() { close(b.a.drainReq) }) }

// Reload implements admin.Backend.
func (b *adminBackend) Reload() error { return b.a.ReloadFromSource() }

// ReloadState implements admin.Backend.
func (b *adminBackend) ReloadState() any {
	r := &b.a.reload
	return map[string]any{"succeeded": r.ok.Load(), "refused": r.failed.Load(), "last": r.last.Load()}
}

// Features implements admin.Backend: what this build serves.
func (b *adminBackend) Features() map[string]bool {
	return map[string]bool{
		"http1_downstream": true, "http2_cleartext_downstream": true, "http1_upstream": true,
		"tls_downstream": true, "tls_upstream": false, "http2_upstream": false, "grpc": false,
		"websocket": true, "tcp_proxy": true, "admin_api": true, "prometheus_metrics": true,
		"access_log": true, "hot_reload": true, "smooth_upgrade": false, "health_check": true,
		"outlier_detection": true, "retry_policy": true, "xds": false,
		"allow_unimplemented": b.a.Config().Ferry.Compat.AllowUnimplemented,
	}
}
