package config

import (
	"strconv"
)

// clusters checks every cluster.
func (v *validator) clusters() {
	for ci := range v.c.ClusterManager.Clusters {
		cl := &v.c.ClusterManager.Clusters[ci]
		cp := index("cluster_manager.clusters", ci)
		v.indexed(v.clusterNames, cl.Name, cp+".name", "cluster name")
		v.clusterType(cl.Type, cp+".type")
		v.dnsSettings(cl, cp)
		v.lbType(cl.LBType, cp+".lb_type")
		v.healthCheck(cl.HealthCheck, cp+".health_check")
		v.outlierDetection(cl.OutlierDetection, cp+".outlier_detection")
		if lb := cl.CommonLBConfig; lb != nil && lb.HealthyPanicThreshold != nil {
			if t := lb.HealthyPanicThreshold.Value; !(t >= 0 && t <= 100) { // NaN fails both
				v.p.add(cp+".common_lb_config.healthy_panic_threshold.value", strconv.FormatFloat(t, 'g', -1, 64)+" is not a percentage in 0..100")
			}
		}
		for hi := range cl.Hosts {
			v.hostAddress(cl.Hosts[hi].Address, index(cp+".hosts", hi)+".address")
		}
		ClusterTLS(&v.c.ClusterManager, ci, v.p.add) // validate_tls.go
	}
}

// dnsSettings checks what a DNS cluster reads: its refresh rate, its lookup
// family, and the name TLS to its hosts verifies.
func (v *validator) dnsSettings(cl *Cluster, path string) {
	if cl.Type != ClusterStrictDNS && cl.Type != ClusterLogicalDNS {
		return
	}
	if cl.DNSRefreshRate != nil && *cl.DNSRefreshRate == 0 {
		v.p.add(path+".dns_refresh_rate", "must be positive")
	}
	switch cl.DNSLookupFamily {
	case "", "AUTO", "ALL", "V4_ONLY", "V6_ONLY":
	default:
		v.p.add(path+".dns_lookup_family", strconv.Quote(cl.DNSLookupFamily)+" is not supported; supported: V4_ONLY, V6_ONLY, AUTO, ALL")
	}
	tc, tp := cl.TLSContext, path+".tls_context"
	if cl.ClusterManagerTLS {
		tc, tp = v.c.ClusterManager.TLSContext, "cluster_manager.tls_context"
	}
	if tc != nil && tc.Status && tc.ServerName == "" && !tc.InsecureSkip {
		v.p.add(tp+".server_name", "required by the DNS cluster "+strconv.Quote(cl.Name)+
			": its hosts are dialled at the addresses their names resolve to, so the name to verify (and send as SNI) must be given")
	}
}

// clusterType accepts the implemented discovery types (and empty, which
// defaults to SIMPLE).
func (v *validator) clusterType(t ClusterType, path string) {
	const supported = "; supported: SIMPLE, STATIC, STRICT_DNS, LOGICAL_DNS"
	switch t {
	case "", ClusterSimple, ClusterStatic, ClusterStrictDNS, ClusterLogicalDNS:
	case ClusterDynamic, ClusterEDS, ClusterOriginalDst:
		v.p.add(path, "cluster type "+strconv.Quote(string(t))+" is not implemented: its hosts would never be discovered"+supported)
	default:
		v.p.add(path, "unknown cluster type "+strconv.Quote(string(t))+supported)
	}
}

// lbType accepts the implemented load balancers (and empty, which defaults
// to LB_ROUNDROBIN). MOSN's others are refused as not implemented; with
// allow_unimplemented they are warnings and the cluster balances round
// robin (see LBTypeOrFallback).
func (v *validator) lbType(t LBType, path string) {
	switch {
	case implementedLB(t):
	case refusedLB(t):
		if !v.c.Ferry.Compat.AllowUnimplemented {
			v.p.add(path, "lb_type "+strconv.Quote(string(t))+" "+RefusalMsg(lbWhy, string(t)+" balancer"))
		}
	default:
		v.p.add(path, "unknown lb_type "+strconv.Quote(string(t))+"; supported: "+supportedLBs)
	}
}

// lbWhy is what goes wrong when a refused balancer is run as round robin.
const lbWhy = "requests would be balanced round robin instead"

// supportedLBs lists the implemented load balancers.
const supportedLBs = "LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST, " +
	"LB_LEAST_CONNECTION, LB_RING_HASH, LB_MAGLEV"

// implementedLB reports whether ferry implements t (empty is round robin).
func implementedLB(t LBType) bool {
	switch t {
	case "", LBRoundRobin, LBRandom, LBWeightedRoundRobin, LBLeastRequest,
		LBLeastConnection, LBRingHash, LBMaglev:
		return true
	}
	return false
}

// refusedLB reports whether t is a MOSN balancer ferry does not implement.
func refusedLB(t LBType) bool {
	switch t {
	case LBOriginalDst, LBPeakEWMA, LBRequestRoundRobin:
		return true
	}
	return false
}

// LBTypeOrFallback is the balancer the cluster runs: its lb_type, or
// LB_ROUNDROBIN for a MOSN balancer that ferry does not implement (which
// Validate lets through only with allow_unimplemented, and warns about).
// Any goroutine.
func (c *Cluster) LBTypeOrFallback() LBType {
	if refusedLB(c.LBType) {
		return LBRoundRobin
	}
	return c.LBType
}

// hostAddress checks an upstream "host:port": both parts present, port in
// 1..65535.
func (v *validator) hostAddress(addr, path string) {
	if addr == "" {
		v.p.add(path, "required")
		return
	}
	host, port, ok := v.hostPort(addr, path)
	if !ok {
		return
	}
	if host == "" {
		v.p.add(path, "missing host")
	}
	if port == 0 {
		v.p.add(path, "port 0 is not a valid upstream port")
	}
}
