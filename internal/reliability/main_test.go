package reliability

import (
	"flag"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// soakFlag sets TestSoak's duration; FERRY_SOAK does too when the flag is
// not given.
//
//nolint:gochecknoglobals // test flag, set once by flag.Parse
var soakFlag = flag.Duration("soak", 0, "duration of TestSoak (default 30s, or $FERRY_SOAK)")

// soakDuration is the soak length: -soak, else $FERRY_SOAK, else 30s.
func soakDuration(t testing.TB) time.Duration {
	t.Helper()
	if *soakFlag > 0 {
		return *soakFlag
	}
	if s := os.Getenv("FERRY_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("FERRY_SOAK=%q: want a positive duration", s)
		}
		return d
	}
	return 30 * time.Second
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOpts()...)
}
