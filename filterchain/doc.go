// Package filterchain defines ferry's filter contracts and the machinery
// that runs them, with nothing tied to a transport:
//
//   - network filters (L4): ReadFilter runs in the order added on bytes read
//     from a connection, WriteFilter in reverse order on bytes written to it.
//     The Manager iterates them exactly as Envoy's FilterManagerImpl does:
//     a filter returning Stop ends the iteration until it calls
//     ReadCallbacks.ContinueReading, and iteration also ends as soon as the
//     connection is no longer open (MOSN's copy lost that check; ours has a
//     test).
//   - stream filters (L7): StreamReceiverFilter runs on the request in one of
//     the receive phases (BeforeRoute, AfterRoute, AfterChooseHost),
//     StreamSenderFilter on the response. A filter returns StreamContinue,
//     StreamStop (the filter replied or will call StreamHandle.Resume),
//     StreamReroute (match the route again) or StreamRechooseHost (pick the
//     upstream host again). StreamChain keeps the position of a stopped
//     filter so that Resume continues after it.
//   - Registry: filters are registered by name explicitly from cmd/, never by
//     init() side effects, and instantiated per listener from configuration.
//
// Goroutines: a Manager belongs to one connection and runs on its event loop
// (Loop only). A StreamChain belongs to one stream and runs wherever the
// stream's phase runs (its loop, or a worker for a chain holding a blocking
// filter), one goroutine at a time. Registry is safe from any goroutine.
// Every exported method says which goroutine may call it; of a
// StreamHandle, only SendLocalReply and Resume may be called from a
// filter's own goroutine (see StreamHandle).
//
// Panics: network filters always run inline on the loop, so the Manager
// recovers a filter's panic, closes that connection and counts it
// (NetworkFilterPanics). Stream filter panics are recovered by the caller
// of StreamChain (ferry's proxy answers 500), on the loop and on a worker
// alike. Either way the process goes on.
//
// Imports: the standard library only. It must not import gnet, conn or any
// package above it.
package filterchain
