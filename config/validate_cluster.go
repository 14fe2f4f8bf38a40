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
		v.lbType(cl.LBType, cp+".lb_type")
		for hi := range cl.Hosts {
			v.hostAddress(cl.Hosts[hi].Address, index(cp+".hosts", hi)+".address")
		}
	}
}

// clusterType accepts the implemented discovery types (and empty, which
// defaults to SIMPLE).
func (v *validator) clusterType(t ClusterType, path string) {
	const supported = "; supported: SIMPLE, STATIC"
	switch t {
	case "", ClusterSimple, ClusterStatic:
	case ClusterDynamic, ClusterEDS, ClusterOriginalDst, ClusterStrictDNS:
		v.p.add(path, "cluster type "+strconv.Quote(string(t))+" is not supported by ferry"+supported)
	default:
		v.p.add(path, "unknown cluster type "+strconv.Quote(string(t))+supported)
	}
}

// lbType accepts the implemented load balancers (and empty, which defaults
// to LB_ROUNDROBIN).
func (v *validator) lbType(t LBType, path string) {
	const supported = "; supported: LB_ROUNDROBIN, LB_RANDOM, LB_WEIGHTED_ROUNDROBIN, LB_LEAST_REQUEST, LB_MAGLEV"
	switch t {
	case "", LBRoundRobin, LBRandom, LBWeightedRoundRobin, LBLeastRequest, LBMaglev:
	case LBOriginalDst, LBLeastConnection, LBPeakEWMA, LBRequestRoundRobin:
		v.p.add(path, "lb_type "+strconv.Quote(string(t))+" is not supported by ferry"+supported)
	default:
		v.p.add(path, "unknown lb_type "+strconv.Quote(string(t))+supported)
	}
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
