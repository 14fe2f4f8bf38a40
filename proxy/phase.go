package proxy

// Phase is a step of a stream's life, in MOSN's names and order. One place
// lists them; stream.run is the one switch over them.
//
//	InitPhase → DownFilter → MatchRoute → DownFilterAfterRoute →
//	DownRecvHeader → DownRecvData → DownRecvTrailer → (Oneway | WaitNotify) →
//	UpFilter → UpRecvHeader → UpRecvData → UpRecvTrailer → End
//
// Retry loops back to host choice; a local reply jumps to UpRecvHeader with
// a response ferry made itself.
type Phase uint8

// The phases, in execution order.
const (
	InitPhase Phase = iota
	DownFilter
	MatchRoute
	DownFilterAfterRoute
	DownRecvHeader
	DownRecvData
	DownRecvTrailer
	Oneway
	Retry
	WaitNotify
	UpFilter
	UpRecvHeader
	UpRecvData
	UpRecvTrailer
	End
	// parked is not a phase: run returns and an event resumes the stream
	// (a stopped filter's Resume, a worker's hand-back, upstream bytes).
	parked
)

var phaseNames = [...]string{ //nolint:gochecknoglobals // read-only
	"InitPhase", "DownFilter", "MatchRoute", "DownFilterAfterRoute",
	"DownRecvHeader", "DownRecvData", "DownRecvTrailer", "Oneway", "Retry",
	"WaitNotify", "UpFilter", "UpRecvHeader", "UpRecvData", "UpRecvTrailer",
	"End", "parked",
}

// String returns the phase's name.
func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "Phase(?)"
}

// filterPhase reports whether p runs stream filters (and so may run on a
// worker); every other phase does I/O and runs on the loop.
func (p Phase) filterPhase() bool {
	return p == DownFilter || p == MatchRoute || p == DownFilterAfterRoute || p == UpFilter
}
