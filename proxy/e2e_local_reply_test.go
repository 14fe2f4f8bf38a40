package proxy_test

// Local replies sent by a stream filter.

import (
	"testing"

	"github.com/ferry-proxy/ferry/filterchain"
	"github.com/ferry-proxy/ferry/proxy"
)

// chooseHostFilter answers locally once the host is chosen.
type chooseHostFilter struct{}

func (chooseHostFilter) Blocking() bool { return false }

func (chooseHostFilter) CreateFilters(b filterchain.ChainBuilder) {
	b.AddReceiver(&replyAfterHost{}, filterchain.AfterChooseHost)
}

type replyAfterHost struct{}

func (*replyAfterHost) OnReceive(h filterchain.StreamHandle, _ filterchain.HeaderMap, _ []byte, _ filterchain.HeaderMap) filterchain.StreamStatus {
	h.SendLocalReply(429, "slow down\n")
	return filterchain.StreamStop
}

func (*replyAfterHost) OnDestroy() {}

func TestLocalReplyAfterChooseHost(t *testing.T) {
	up := newEchoUpstream(t)
	for _, pol := range []proxy.Policy{proxy.PolicyInline, proxy.PolicyPool} {
		t.Run(pol.String(), func(t *testing.T) {
			h := startProxy(t, []string{up.Listener.Addr().String()}, func(s *setup) {
				s.factory.Policy = pol
				s.factory.StreamFilters = []filterchain.StreamFilterFactory{chooseHostFilter{}}
			})
			c := h.client()
			for range 3 { // keep-alive: a hung stream would block the second
				code, body := h.get(c, "/x")
				if code != 429 || body != "slow down\n" {
					t.Fatalf("got %d %q", code, body)
				}
			}
		})
	}
}
