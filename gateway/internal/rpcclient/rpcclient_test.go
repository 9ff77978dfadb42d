package rpcclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
)

type failing struct {
	grpc.ClientConnInterface
	err error
}

func (f failing) Invoke(context.Context, string, any, any, ...grpc.CallOption) error { return f.err }

func TestCallErrorKeepsTheStatus(t *testing.T) {
	t.Parallel()
	const method = "/meterflow.wallet.v1.WalletService/AdminListTransactions"
	tests := []struct {
		name string
		err  error
	}{
		{"plain status", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000000 vs. 4194304)")},
		{"reason and retry", rpcerr.Throttled("slow down", 3*time.Second)},
		{"validation", rpcerr.Validation("bad", rpcerr.FieldViolation{Field: "limit", Message: "1-200"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Wrap(failing{err: tt.err}).Invoke(context.Background(), method, nil, nil)
			want := status.Convert(tt.err)
			got, ok := status.FromError(err)
			if !ok || got.Code() != want.Code() || got.Message() != want.Message() {
				t.Fatalf("status %v %q, want %v %q", got.Code(), got.Message(), want.Code(), want.Message())
			}
			if rpcerr.Reason(err) != rpcerr.Reason(tt.err) || len(rpcerr.Fields(err)) != len(rpcerr.Fields(tt.err)) {
				t.Fatalf("details lost: reason %q", rpcerr.Reason(err))
			}
			if Method(err) != method || !errors.Is(err, tt.err) {
				t.Fatalf("method %q", Method(err))
			}
		})
	}
	if err := Wrap(failing{}).Invoke(context.Background(), method, nil, nil); err != nil {
		t.Fatalf("success became %v", err)
	}
	if Method(errors.New("x")) != "" {
		t.Fatal("a plain error has no method")
	}
}
