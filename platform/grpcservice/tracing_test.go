package grpcservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/telemetry"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// tracedWallet remembers the span context its handler ran in and fails
// its call, so that the server logs one line inside the call.
type tracedWallet struct {
	walletv1.UnimplementedWalletServiceServer
	mu   sync.Mutex
	seen trace.SpanContext
}

func (w *tracedWallet) GetWallet(ctx context.Context, _ *walletv1.GetWalletRequest) (*walletv1.GetWalletResponse, error) {
	w.mu.Lock()
	w.seen = trace.SpanContextFromContext(ctx)
	w.mu.Unlock()
	return nil, rpcerr.InternalError(context.Canceled)
}

// syncBuffer is a log destination the server writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCallsContinueTheCallersTrace: whether the process records spans or
// not (ADR 0023), a call made through Dial reaches a NewServer handler in
// the caller's trace, under a span of its own, and the server's log lines
// carry that trace; with spans recorded, the client and server spans are
// exported as one trace with the method's name, kind and status. Not
// parallel: it installs the process-wide tracer provider.
func TestCallsContinueTheCallersTrace(t *testing.T) {
	const method = "meterflow.wallet.v1.WalletService/GetWallet"
	tests := []struct {
		name   string
		record bool
	}{
		{"spans recorded (an exporter is configured)", true},
		{"no exporter", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			var extra []sdktrace.SpanProcessor
			if tc.record {
				extra = append(extra, rec)
			}
			shutdown, err := telemetry.SetupTracing(context.Background(), "grpcservice-test", extra...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = shutdown(context.Background()) })
			if got := telemetry.SpansUnrecorded(); got == tc.record {
				t.Fatalf("SpansUnrecorded = %t with recording %t", got, tc.record)
			}
			wallet := &tracedWallet{}
			logs := &syncBuffer{}
			client, ctx := startWallet(t, wallet, logs)

			ctx, caller := otel.Tracer("test").Start(ctx, "caller")
			_, err = client.GetWallet(ctx, &walletv1.GetWalletRequest{})
			caller.End()
			if status.Code(err) != codes.Internal {
				t.Fatalf("GetWallet error = %v, want Internal", err)
			}
			tid := caller.SpanContext().TraceID()
			wallet.mu.Lock()
			seen := wallet.seen
			wallet.mu.Unlock()
			if seen.TraceID() != tid || !seen.SpanID().IsValid() || seen.SpanID() == caller.SpanContext().SpanID() {
				t.Fatalf("handler ran in span %s/%s, want a span of its own in trace %s", seen.TraceID(), seen.SpanID(), tid)
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
				t.Fatalf("server log %q: %v", logs.String(), err)
			}
			if line["trace_id"] != tid.String() || line["span_id"] != seen.SpanID().String() {
				t.Fatalf("server log line %v, want trace_id %s and span_id %s", line, tid, seen.SpanID())
			}

			if !tc.record {
				return
			}
			// The server span ends after the answer is on the wire.
			spans := map[trace.SpanKind]sdktrace.ReadOnlySpan{}
			for deadline := time.Now().Add(5 * time.Second); len(spans) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				for _, s := range rec.Ended() {
					if s.Name() == method && s.SpanContext().TraceID() == tid {
						spans[s.SpanKind()] = s
					}
				}
			}
			cl, sv := spans[trace.SpanKindClient], spans[trace.SpanKindServer]
			if cl == nil || sv == nil {
				t.Fatalf("ended spans of the call: %v, want a client and a server span", spans)
			}
			if cl.Parent().SpanID() != caller.SpanContext().SpanID() || sv.Parent().SpanID() != cl.SpanContext().SpanID() || !sv.SpanContext().Equal(seen) {
				t.Errorf("spans not chained caller → client → server (the handler's)")
			}
			if cl.Status().Code.String() != "Error" || sv.Status().Code.String() != "Error" {
				t.Errorf("span statuses %v / %v, want Error", cl.Status(), sv.Status())
			}
		})
	}
}
