package grpcservice_test

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/telemetry"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// BenchmarkUnaryRoundTrip is one user call from a service's client to
// another service's server over loopback TCP, as every hop of a paid run
// makes it: grpcservice.Dial with service credentials and the user's
// token, grpcservice.NewServer with its interceptors, real call
// authentication (both tokens cached, the steady state) and metrics.
// cpu-ns/op is the process's CPU (user and system, both ends of the call)
// per call: what the hop costs the machine, not only its latency.
func BenchmarkUnaryRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name      string
		exporting bool
	}{
		{"tracing=off", false},     // no OTEL_EXPORTER_OTLP_ENDPOINT: the bench's and `make run`'s setup
		{"tracing=exported", true}, // an exporter: every span recorded and exported
	} {
		b.Run(tc.name, func(b *testing.B) {
			var extra []sdktrace.SpanProcessor
			if tc.exporting {
				extra = append(extra, sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter()))
			}
			shutdown, err := telemetry.SetupTracing(context.Background(), "bench", extra...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = shutdown(context.Background()) })
			client, ctx := startWallet(b, walletStub{}, io.Discard)
			b.Run("serial", func(b *testing.B) {
				measureCPU(b, func() {
					for b.Loop() {
						call(b, client, ctx)
					}
				})
			})
			b.Run("parallel", func(b *testing.B) {
				b.SetParallelism(4)
				measureCPU(b, func() {
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							call(b, client, ctx)
						}
					})
				})
			})
		})
	}
}

func call(b *testing.B, client walletv1.WalletServiceClient, ctx context.Context) {
	resp, err := client.GetWallet(ctx, &walletv1.GetWalletRequest{})
	if err != nil || resp.GetWallet().GetBalanceCents() != 1234 {
		b.Fatalf("GetWallet = %v, %v", resp, err)
	}
}

// walletStub answers GetWallet for the authenticated user.
type walletStub struct {
	walletv1.UnimplementedWalletServiceServer
}

func (walletStub) GetWallet(ctx context.Context, _ *walletv1.GetWalletRequest) (*walletv1.GetWalletResponse, error) {
	p, _ := callauth.UserFrom(ctx)
	return &walletv1.GetWalletResponse{Wallet: &walletv1.Wallet{
		UserId: p.UserID, BalanceCents: 1234, AvailableCents: 1234, Currency: "USD",
	}}, nil
}

// startWallet serves wallet on loopback as the services serve (logging to
// logs) and returns a client of it and a context carrying a user's access
// token.
func startWallet(b testing.TB, wallet walletv1.WalletServiceServer, logs io.Writer) (walletv1.WalletServiceClient, context.Context) {
	b.Helper()
	keys := authtest.NewKeys(b)
	auth := callauth.NewServer("wallet", []byte(authtest.Secret), keys.Verifier(), callauth.Policy{
		walletv1.WalletService_GetWallet_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.UserRequired},
	})
	srv, _ := grpcservice.NewServer(grpcservice.Options{
		Logger:  telemetry.NewLogger("wallet", logs),
		Auth:    auth,
		Metrics: telemetry.NewGRPCServerMetrics(prometheus.NewRegistry()),
	})
	walletv1.RegisterWalletServiceServer(srv, wallet)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(srv.Stop)
	conn, err := grpcservice.Dial(lis.Addr().String(), authtest.Minter(b, "gateway").Credentials("wallet"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	ctx := callauth.WithUserToken(context.Background(), keys.AccessToken(b, "u1", false))
	return walletv1.NewWalletServiceClient(conn), ctx
}

// measureCPU runs f and reports the process's CPU time per operation
// (cpu-ns/op) besides the benchmark's wall time.
func measureCPU(b *testing.B, f func()) {
	b.Helper()
	b.ReportAllocs()
	before := cpuTime(b)
	f()
	if b.N > 0 {
		b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
