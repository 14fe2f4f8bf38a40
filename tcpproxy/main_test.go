package tcpproxy_test

import (
	"testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }
