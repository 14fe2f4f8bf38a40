// Command forwarder is the benchmark's measuring stick for a gnet proxy: the
// least work a proxy built on gnet v2 can do per request, run in the same
// benchmark as ferry, nginx and HAProxy so that the report shows where the
// ceiling is on the machine at hand. It is not a product and not a proxy
// anyone should deploy.
//
// What it does: every accepted (downstream) connection is paired with one
// upstream connection, dialed on a short-lived goroutine with a 3 s timeout
// and enrolled on the downstream's own event loop
// (gnet.EventLoop.Enroll). Bytes are then copied both ways: each read is
// handed to the peer with a single gnet Write, which sends straight from
// gnet's read buffer and copies only what the socket does not take. Bytes
// the client sends before the upstream is open are kept (at most 1 MiB,
// beyond which the client is closed) and sent when it opens. When either
// side closes, the other is closed once gnet has sent what it still holds
// for it (gnet drops unsent bytes on close), or after 10 s regardless. A
// failed dial closes the client.
//
// What it is not: it does no HTTP at all. No parsing, no framing, no
// routing, no header rewriting, no upstream pooling (one upstream connection
// per client connection, for that connection's whole life), no timeouts
// besides the dial's, no backpressure (a client that does not read lets
// gnet's outbound buffer grow) and no limits besides the 1 MiB above. It
// works for the benchmark's HTTP/1.1 keep-alive loads only because the
// upstream frames every response with Content-Length and the client never
// pipelines to two upstreams.
//
// The engine options match ferry's: -loops event loops (0 = one per CPU),
// SO_REUSEPORT listeners, SO_REUSEADDR, TCP_NODELAY. Because every loop
// binds its own listener, -addr needs an explicit port. Once the engine has
// booted the command prints "listening on ADDR" on stdout (the only line it
// writes there; gnet's warnings go to stderr) and runs until SIGINT/SIGTERM.
//
// Goroutines: the gnet event loops, which own all per-connection state
// (Conn.Context, never locked); gnet's ticker goroutine, which only
// schedules the close-after-flush checks onto the loops; one dialer per new
// connection, which ends once the upstream is enrolled; and one goroutine
// that stops the engine when the context ends.
//
// It imports only gnet and the standard library and is imported by nothing.
package main
