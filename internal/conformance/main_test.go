package conformance

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if n := tally.passed.Load() + tally.failed.Load(); n > 0 {
		fmt.Printf("conformance: %d passed, %d failed\n", tally.passed.Load(), tally.failed.Load())
	}
	if code == 0 {
		// Everything ferry and the suite start must be gone but gnet's
		// process-wide pool.
		if err := goleak.Find(testutil.GnetPoolIgnores()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
