package callauth_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// BenchmarkUnaryInterceptor is what every user call costs a service before
// its handler runs, with both tokens already in the caches (the steady
// state: a client reuses its access token until it expires).
func BenchmarkUnaryInterceptor(b *testing.B) {
	keys := authtest.NewKeys(b)
	method := walletv1.WalletService_GetWallet_FullMethodName
	srv := callauth.NewServer("wallet", []byte(authtest.Secret), keys.Verifier(), callauth.Policy{
		method: {Callers: []string{"gateway"}, Access: callauth.UserRequired},
	})
	svcToken, err := authtest.Minter(b, "gateway").Token("wallet")
	if err != nil {
		b.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(
		callauth.ServiceTokenKey, svcToken,
		callauth.UserTokenKey, "Bearer "+keys.AccessToken(b, "u1", false),
		// What else a gRPC call carries in its metadata.
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		":authority", "wallet:50052", "content-type", "application/grpc", "user-agent", "grpc-go/1.7",
	))
	interceptor := srv.UnaryInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: method}
	handler := func(ctx context.Context, _ any) (any, error) {
		if _, ok := callauth.UserFrom(ctx); !ok {
			b.Fatal("no user in the handler's context")
		}
		return nil, nil
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := interceptor(ctx, nil, info, handler); err != nil {
			b.Fatal(err)
		}
	}
}
