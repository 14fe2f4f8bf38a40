package conformance

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if n := tally.passed.Load() + tally.failed.Load(); n > 0 {
		fmt.Printf("conformance: %d passed, %d failed\n", tally.passed.Load(), tally.failed.Load())
	}
	if code == 0 {
		// gnet's process-wide ants pool (started in gnet's init) keeps its
		// housekeeping goroutines and idle workers for the life of the
		// process; everything ferry and the suite start must be gone.
		if err := goleak.Find(
			goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
			goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
			goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*goWorker).run.func1"),
		); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
