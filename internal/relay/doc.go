// Package relay carries bytes both ways between two connections of one
// event loop: the TCP proxy's client and upstream (tcpproxy), and the
// connections of an HTTP upgrade once the 101 passed (proxy/upgrade.go).
// Attach refuses a connection of another loop. Write puts bytes ahead of
// what is relayed (the 101 head).
//
// # Data path
//
// A read on one side is written to the other at once, in the read
// callback, with no copy when the other side takes it whole. What it does
// not take, and everything after it until it drained, is copied into that
// side's spill queue (internal/spill: memory up to Options.Spill.MemLimit,
// then an unlinked temp file), because gnet cannot stop reading a socket
// (docs/gnet.md, "No read pause"): memory per relay is bounded by the two
// queues' memory limits, and a slow peer's backlog goes to disk, as an
// HTTP body does (proxy/pipe.go). HighMark reports the most bytes held in
// memory at once; TestLargeBothWaysThroughAThrottledPeerStaysBounded
// (tcpproxy) checks it over 64 MiB each way.
//
// # Direct writes and half-close
//
// gnet closes a socket when a read returns EOF, and drops what it still
// queued for it (docs/gnet.md, "Unsent bytes are dropped on close"): a
// peer that only half-closed would lose the rest of the other direction.
// So a plain connection of a relay is written directly
// (conn.Conn.StartDirect, conn/relay.go): the relay keeps what the socket
// did not take in its own queue, gnet's outbound buffer stays empty, and a
// short write is retried when the loop sweep calls OnWritable: the sweep
// (2 ms apart while a writer waits) asks the kernel about every waiting
// socket of the loop with one ppoll and calls back the writable ones. A
// side whose outbound queue still holds bytes when attached (an upgrade's
// request head gnet had not written yet), or that has network write
// filters (a direct write would pass them by), keeps gnet's writes, as
// TLS does (TestWriteFiltersAreNotBypassed). The relay never writes to a descriptor gnet closed: conn reads
// the descriptor in the same loop callback as the write (gnet's only
// while the connection is open, else the kept copy). A FIN from one
// side keeps its socket open for writing (conn.Conn.KeepWriting, from the
// close event), the other side gets the FIN (shutdown(SHUT_WR)) once every
// byte before it was written, and the relay ends when both directions
// ended. A TLS connection is written through its record layer with its
// watermarks and has no half-close: its FIN ends the relay once the other
// side got what it was owed, and a FIN for it closes it after a flush.
// A kept copy that no relay closed when the engine stops is closed (with
// a reset) by eventloop.Engine.Stop (conn.Loop.CloseKeptSockets).
//
// A side that reset or closed while the other still sends ends the relay:
// the other side gets what the closed one sent, then closes. The idle
// timeout (no byte moved either way) closes both.
//
// # Goroutines and imports
//
// Loop only: both connections belong to one loop. relay imports conn,
// filterchain and internal/spill, not gnet.
package relay
