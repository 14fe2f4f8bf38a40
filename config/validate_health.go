package config

import (
	"strconv"
	"strings"
	"time"
)

// Health check protocols, as HealthCheck.Kind reports them.
const (
	HealthKindHTTP1 = "http1"
	HealthKindTCP   = "tcp"
)

// Kind is the health check's protocol, lower-cased: HealthKindHTTP1 or
// HealthKindTCP for the ones ferry implements (MOSN spells them Http1
// and Tcp; "tcp_dial" is accepted too), else the lower-cased name. Any
// goroutine.
func (h *HealthCheck) Kind() string {
	k := strings.ToLower(h.Protocol)
	if k == "tcp_dial" {
		return HealthKindTCP
	}
	return k
}

// ProbeTimeout is the timeout of one probe: check_config.http_check_config
// .timeout for an Http1 check when set, else timeout. Any goroutine.
func (h *HealthCheck) ProbeTimeout() time.Duration {
	if h.Kind() == HealthKindHTTP1 && h.CheckConfig != nil && h.CheckConfig.HTTPCheckConfig != nil &&
		h.CheckConfig.HTTPCheckConfig.Timeout != nil {
		return h.CheckConfig.HTTPCheckConfig.Timeout.Std()
	}
	return h.Timeout.Std()
}

// HTTP returns the http_check_config, or an empty one. Any goroutine.
func (h *HealthCheck) HTTP() HTTPCheckConfig {
	if h.CheckConfig != nil && h.CheckConfig.HTTPCheckConfig != nil {
		return *h.CheckConfig.HTTPCheckConfig
	}
	return HTTPCheckConfig{}
}

// OutlierValues are an outlier_detection block's values, defaults applied.
type OutlierValues struct {
	Consecutive5xx, ConsecutiveGatewayFailure, ConsecutiveConnectFailure uint32
	Interval, BaseEjectionTime, MaxEjectionTime                          time.Duration
	MaxEjectionPercent                                                   uint32
}

// Values returns o's values with Envoy's defaults for the absent ones:
// consecutive_5xx 5, consecutive_gateway_failure 0 (off),
// consecutive_connect_failure 5, interval 10s, base_ejection_time 30s,
// max_ejection_time 300s (or base_ejection_time when larger),
// max_ejection_percent 10. Any goroutine.
func (o *OutlierDetection) Values() OutlierValues {
	u := func(p *uint32, d uint32) uint32 {
		if p == nil {
			return d
		}
		return *p
	}
	t := func(p *Duration, d time.Duration) time.Duration {
		if p == nil {
			return d
		}
		return p.Std()
	}
	v := OutlierValues{
		Consecutive5xx:            u(o.Consecutive5xx, 5),
		ConsecutiveGatewayFailure: u(o.ConsecutiveGatewayFailure, 0),
		ConsecutiveConnectFailure: u(o.ConsecutiveConnectFailure, 5),
		Interval:                  t(o.Interval, 10*time.Second),
		BaseEjectionTime:          t(o.BaseEjectionTime, 30*time.Second),
		MaxEjectionPercent:        u(o.MaxEjectionPercent, 10),
	}
	v.MaxEjectionTime = t(o.MaxEjectionTime, max(300*time.Second, v.BaseEjectionTime))
	return v
}

// healthCheck checks a cluster's health_check.
func (v *validator) healthCheck(h *HealthCheck, path string) {
	if h == nil {
		return
	}
	kind := h.Kind()
	switch kind {
	case HealthKindHTTP1, HealthKindTCP:
	case "http2":
		v.p.add(path+".protocol", "Http2 health checks are not implemented: hosts would never be probed; use Http1 or Tcp")
	case "":
		v.p.add(path+".protocol", "required: Http1 or Tcp")
	default:
		v.p.add(path+".protocol", "unknown health check protocol "+strconv.Quote(h.Protocol)+"; supported: Http1, Tcp")
	}
	switch {
	case h.Interval <= 0:
		v.p.add(path+".interval", "required, positive")
	case h.Timeout <= 0:
		v.p.add(path+".timeout", "required, positive")
	case h.Timeout >= h.Interval:
		v.p.add(path+".timeout", h.Timeout.String()+" is not below interval "+h.Interval.String()+": probes would overlap")
	}
	if h.IntervalJitter < 0 {
		v.p.add(path+".interval_jitter", "negative")
	}
	if h.HealthyThreshold == 0 {
		v.p.add(path+".healthy_threshold", "required, at least 1")
	}
	if h.UnhealthyThreshold == 0 {
		v.p.add(path+".unhealthy_threshold", "required, at least 1")
	}
	hp := path + ".check_config.http_check_config"
	hcc := h.HTTP()
	if kind != HealthKindHTTP1 {
		if h.CheckConfig != nil && h.CheckConfig.HTTPCheckConfig != nil {
			v.p.add(hp, "set on a "+strconv.Quote(h.Protocol)+" health check, which sends no HTTP request")
		}
		for _, f := range []struct{ name, val string }{{"method", h.Method}, {"host", h.Host}} {
			if f.val != "" {
				v.p.add(path+"."+f.name, "set on a "+strconv.Quote(h.Protocol)+" health check, which sends no HTTP request")
			}
		}
		if len(h.ExpectedStatuses) > 0 {
			v.p.add(path+".expected_statuses", "set on a "+strconv.Quote(h.Protocol)+" health check, which reads no HTTP status")
		}
		return
	}
	if hcc.Path != "" && (hcc.Path[0] != '/' || !visibleASCII(hcc.Path)) {
		v.p.add(hp+".path", strconv.Quote(hcc.Path)+" is not an origin-form path (\"/...\", no spaces or control characters)")
	}
	if hcc.Port > 65535 {
		v.p.add(hp+".port", strconv.FormatUint(uint64(hcc.Port), 10)+" is not a port (1..65535)")
	}
	if hcc.Timeout != nil {
		switch {
		case *hcc.Timeout <= 0:
			v.p.add(hp+".timeout", "not positive")
		case h.Interval > 0 && *hcc.Timeout >= h.Interval:
			v.p.add(hp+".timeout", hcc.Timeout.String()+" is not below interval "+h.Interval.String()+": probes would overlap")
		}
	}
	if h.Method != "" && !validToken(h.Method) {
		v.p.add(path+".method", strconv.Quote(h.Method)+" is not an HTTP method")
	}
	if h.Host != "" && !visibleASCII(h.Host) {
		v.p.add(path+".host", strconv.Quote(h.Host)+" has spaces or control characters")
	}
	for i, r := range h.ExpectedStatuses {
		if r.Start < 100 || r.End > 600 || r.Start >= r.End {
			v.p.add(index(path+".expected_statuses", i), "["+strconv.Itoa(r.Start)+", "+strconv.Itoa(r.End)+
				") is not a non-empty range within [100, 600)")
		}
	}
}

// outlierDetection checks a cluster's outlier_detection.
func (v *validator) outlierDetection(o *OutlierDetection, path string) {
	if o == nil {
		return
	}
	val := o.Values()
	if val.Consecutive5xx == 0 && val.ConsecutiveGatewayFailure == 0 && val.ConsecutiveConnectFailure == 0 {
		v.p.add(path, "every detector is off (consecutive_5xx, consecutive_gateway_failure and consecutive_connect_failure are 0)")
	}
	if val.Interval <= 0 {
		v.p.add(path+".interval", "not positive")
	}
	if val.BaseEjectionTime <= 0 {
		v.p.add(path+".base_ejection_time", "not positive")
	}
	if val.MaxEjectionTime < val.BaseEjectionTime {
		v.p.add(path+".max_ejection_time", val.MaxEjectionTime.String()+" is below base_ejection_time "+val.BaseEjectionTime.String())
	}
	if val.MaxEjectionPercent > 100 {
		v.p.add(path+".max_ejection_percent", strconv.FormatUint(uint64(val.MaxEjectionPercent), 10)+" is above 100")
	}
}

// visibleASCII reports whether s is non-empty visible ASCII.
func visibleASCII(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}
