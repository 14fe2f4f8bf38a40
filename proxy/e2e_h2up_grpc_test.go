package proxy_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/ferry-proxy/ferry/internal/testutil"
	"github.com/ferry-proxy/ferry/proxy"
)

// TestGRPCThroughH2Upstream runs grpc-go's interop cases through ferry: a
// grpc-go client with insecure credentials on ferry's h2c listener, ferry
// speaking h2c to a grpc-go server. They check that statuses and messages
// (grpc-status, grpc-message in the trailers), custom metadata (headers
// and trailers, binary ones included), every streaming shape, deadlines
// (grpc-timeout against a sleeping server) and cancellations (RST_STREAM
// from the client, before and after the first response) pass intact. An interop case that fails ends the test binary with its
// reason (grpclog.Fatal).
func TestGRPCThroughH2Upstream(t *testing.T) {
	ln := testutil.Listen(t)
	gs := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(gs, interop.NewTestServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(ln) }()
	t.Cleanup(func() { gs.Stop(); <-done })

	h := startH2Proxy(t, ln.Addr().String(), func(s *setup) { s.factory.Protocol = proxy.ProtoHTTP2 })
	cc, err := grpc.NewClient("passthrough:///"+h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	tc := testgrpc.NewTestServiceClient(cc)
	for _, c := range []struct {
		name string
		run  func(context.Context, testgrpc.TestServiceClient, ...grpc.CallOption)
	}{
		{"empty_unary", interop.DoEmptyUnaryCall},
		{"large_unary", interop.DoLargeUnaryCall},
		{"status_code_and_message", interop.DoStatusCodeAndMessage},
		{"special_status_message", interop.DoSpecialStatusMessage},
		{"custom_metadata", interop.DoCustomMetadata},
		{"client_streaming", interop.DoClientStreaming},
		{"server_streaming", interop.DoServerStreaming},
		{"ping_pong", interop.DoPingPong},
		{"empty_stream", interop.DoEmptyStream},
		{"timeout_on_sleeping_server", interop.DoTimeoutOnSleepingServer},
		{"cancel_after_begin", interop.DoCancelAfterBegin},
		{"cancel_after_first_response", interop.DoCancelAfterFirstResponse},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c.run(ctx, tc)
		})
	}
}
