package proxy

import (
	"net"

	"github.com/bytedance/gopkg/lang/fastrand"

	"github.com/ferry-proxy/ferry/router"
	"github.com/ferry-proxy/ferry/upstream"
)

// The route actions beyond a fixed cluster (router/action.go): the cluster
// chosen per request, the hash key of consistent-hash balancers and the
// header mutations. A route without them costs one nil or empty-string
// check at each place.

// pickCluster returns the request's cluster: the route's fixed cluster, a
// weighted pick, or the one named by the cluster header; nil when that
// names no cluster.
func (s *stream) pickCluster() *upstream.Cluster {
	rt := s.route
	ca := rt.Cluster()
	if ca.Cluster != "" {
		return s.srv.clusters.Get(ca.Cluster)
	}
	if name := rt.WeightedCluster(fastrand.Uint64()); name != "" {
		return s.srv.clusters.Get(name)
	}
	if h := ca.ClusterHeader; h != "" {
		if v, ok := s.reqHdrs.Get(h); ok && len(v) > 0 {
			return s.srv.clusters.Get(string(v))
		}
	}
	return nil
}

// noClusterErr describes why pickCluster found no cluster.
func (s *stream) noClusterErr() error {
	if ca := s.route.Cluster(); ca.ClusterHeader != "" && ca.Cluster == "" && len(ca.WeightedClusters) == 0 {
		return (*errNoHeaderCluster)(ca)
	}
	return (*errNoCluster)(s.route.Cluster())
}

// errNoHeaderCluster is a cluster_header route whose header is missing or
// names no cluster.
type errNoHeaderCluster router.ClusterAction

func (c *errNoHeaderCluster) Error() string {
	return "header " + c.ClusterHeader + " is missing or names no cluster"
}

// pickHost chooses the host: by the route's hash key when the cluster
// hashes and the request has a key, else by the cluster's policy; either
// way avoiding lastHost.
func (s *stream) pickHost() *upstream.Host {
	c := s.cluster
	if c.Hashing() {
		if hashes, needIP := s.route.Hashes(); hashes {
			var buf [48]byte
			var ip []byte
			if needIP {
				ip = s.d.appendPeerIP(buf[:0])
			}
			if key, ok := s.route.HashKey(&s.reqHdrs, ip); ok {
				return c.PickHash(key, s.lastHost)
			}
		}
	}
	return c.PickExcluding(s.lastHost)
}

// mutateRequest applies the route's request header mutations once, when
// the first host is chosen (a retry keeps them). Owner.
func (s *stream) mutateRequest() {
	ops := s.route.RequestHeaders()
	if ops == nil || s.reqMutated {
		return
	}
	s.reqMutated = true
	s.applyOps(&s.reqHdrs, ops)
}

// mutateResponse applies the route's response header mutations to the
// upstream's response head, before the sender filters see it. Owner.
func (s *stream) mutateResponse() {
	if s.route == nil || s.respMutated {
		return
	}
	ops := s.route.ResponseHeaders()
	if ops == nil {
		return
	}
	s.respMutated = true
	s.applyOps(&s.respHdrs, ops)
}

// applyOps removes, then adds. A literal value costs nothing; a value
// with variables one string per field.
func (s *stream) applyOps(h *headerMap, ops *router.HeaderOps) {
	for _, name := range ops.Remove {
		h.Del(name)
	}
	for i := range ops.Add {
		a := &ops.Add[i]
		if v, ok := a.Literal(); ok {
			h.Add(a.Name, v)
			continue
		}
		var buf [64]byte
		h.Add(a.Name, string(a.AppendValue(buf[:0], s)))
	}
}

// AppendVar implements router.VarSource for header values.
func (s *stream) AppendVar(dst []byte, v router.Var) []byte {
	switch v {
	case router.VarDownstreamRemoteAddress:
		return appendAddr(dst, s.d.c.RemoteAddr())
	case router.VarDownstreamRemoteAddressWithoutPort:
		return s.d.appendPeerIP(dst)
	case router.VarDownstreamLocalAddress:
		return appendAddr(dst, s.d.c.LocalAddr())
	case router.VarUpstreamRemoteAddress:
		if s.host != nil {
			return append(dst, s.host.Address()...)
		}
	case router.VarUpstreamCluster:
		if s.cluster != nil {
			return append(dst, s.cluster.Name()...)
		}
	}
	return dst
}

// appendAddr appends a TCP address as ip:port.
func appendAddr(dst []byte, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().AppendTo(dst)
	}
	if a != nil {
		return append(dst, a.String()...)
	}
	return dst
}

var _ router.VarSource = (*stream)(nil)
