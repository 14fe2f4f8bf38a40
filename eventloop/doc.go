// Package eventloop runs ferry's single gnet engine over every listener
// (gnet.Rotate) and maps gnet's callbacks onto conn.Conn:
//
//   - OnOpen of an accepted socket: the connection budget is checked first
//     (refusing before EMFILE, which would stop the engine for good),
//     then the listener's Chain (its network filter factories and TLS,
//     one atomic load: a hot reload swaps it with Listener.SetChain)
//     builds the connection's filter chain.
//   - OnOpen of an enrolled upstream socket (its gnet context is a
//     conn.Outbound): the dialer that enrolled it builds the Conn and hands
//     it to whoever dialled (conn/dial.go), on the same loop as the
//     downstream connection that wanted it.
//   - OnTraffic and OnClose go straight to the conn.Conn in the context,
//     through its conn.TLSConn first on a listener with TLS (Listener.TLS:
//     the socket is wrapped before the Conn is built over it, and the
//     filters' OnNewConnection waits for the handshake; docs/tls.md).
//   - OnTick (gnet runs it on its own goroutine) asks each loop to run
//     its sweep: timers and write-watermark checks.
//
// If the engine stops when nobody asked it to, Done is closed and Err says
// why (the last error gnet logged), so the process can exit non-zero.
//
// StopAccepting takes the listening sockets off gnet's pollers without
// stopping the engine (StopListener one listener's, for a reload that
// removes it), Options.Inherit serves listening sockets handed over by
// another process, and Options.Spare keeps slots in which AddListener
// opens a listener while the engine runs; all work under gnet through
// /proc/self/fdinfo and epoll_ctl, since gnet has no API for any of them
// (adopt_linux.go, spare_linux.go, docs/gnet.md "Stop accepting, keep
// serving", docs/upgrade.md, docs/operations.md "Hot reload").
//
// Goroutines: gnet callbacks run on the loops; Start, Stop, Addrs and Drain
// may be called from any goroutine.
//
// Imports: conn, filterchain and gnet. It must not import proxy, router,
// upstream or config.
package eventloop
