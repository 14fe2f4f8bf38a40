package testutil

import (
	"testing"

	"go.uber.org/goleak"
)

// GnetPoolIgnores are the goleak options for gnet's process-wide ants pool
// (started in gnet's init, used by Enroll): its housekeeping goroutines and
// idle workers live for the life of the process. Our own worker pool's Close
// is checked by the worker package's tests, where gnet is not linked in.
func GnetPoolIgnores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
	}
}

// VerifyNoLeaks is the TestMain of a package whose tests link gnet in: it
// runs the tests, then fails if any goroutine but gnet's pool (and those
// matched by extra) is left.
func VerifyNoLeaks(m *testing.M, extra ...goleak.Option) {
	goleak.VerifyTestMain(m, append(GnetPoolIgnores(), extra...)...)
}
