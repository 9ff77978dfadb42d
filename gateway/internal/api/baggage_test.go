package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/grpcstub"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// seenIdentity records the metadata its GetUser calls arrive with.
type seenIdentity struct {
	identityv1.UnimplementedIdentityServiceServer
	mu sync.Mutex
	md metadata.MD
}

func (s *seenIdentity) GetUser(ctx context.Context, _ *identityv1.GetUserRequest) (*identityv1.GetUserResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.md = md.Copy()
	s.mu.Unlock()
	return &identityv1.GetUserResponse{User: &identityv1.User{Id: "u1", Email: "a@example.com", IsActive: true, CreatedAt: timestamppb.Now()}}, nil
}

// TestClientBaggageStopsAtTheEdge: a client's W3C baggage (arbitrary
// key=values it chooses) must not reach the services, where it would ride
// along every internal call; its W3C trace context still does, so a
// client's trace continues through the gateway as before.
func TestClientBaggageStopsAtTheEdge(t *testing.T) {
	t.Parallel()
	// What every process installs (telemetry.SetupTracing): trace context
	// and baggage, so that the services propagate both among themselves.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	seen := &seenIdentity{}
	conn := grpcstub.Start(t, func(s *grpc.Server) { identityv1.RegisterIdentityServiceServer(s, seen) })
	b := setup(t, setupOpts{})
	b.srv.d.Identity = identityv1.NewIdentityServiceClient(conn)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := withToken(newReq(http.MethodGet, "/v1/me", ""), b.keys.test.AccessToken(t, "u1", false))
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	req.Header.Set("baggage", "user.id=someone-else,is_admin=true")
	if resp, body := b.do(t, req); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if got := seen.md.Get("baggage"); len(got) != 0 {
		t.Fatalf("the service received the client's baggage: %q", got)
	}
	if got := seen.md.Get("traceparent"); len(got) != 1 || !strings.Contains(got[0], traceID) {
		t.Fatalf("traceparent %q does not continue the client's trace %s", got, traceID)
	}
}
