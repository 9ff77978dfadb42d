package grpcapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/telemetry"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/internal/grpcapi"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

// TestMain installs the processes' tracing (W3C propagation, spans with
// ids), so that log lines carry the trace id of the call.
func TestMain(m *testing.M) {
	shutdown, err := telemetry.SetupTracing(context.Background(), "identity")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(code)
}

// harness is the identity gRPC server on its own database, behind the
// production interceptors (grpcservice.NewServer), logging JSON to logs.
type harness struct {
	svc    *identity.Service
	pool   *pgxpool.Pool
	keys   *authtest.Keys
	logs   serverLog
	addr   string // the server's address, for clients as other callers
	client identityv1.IdentityServiceClient
}

func setup(t *testing.T) *harness {
	t.Helper()
	pool, _ := dbtest.New(t, migrations.FS)
	if err := jobs.Migrate(context.Background(), pool, nil); err != nil {
		t.Fatal(err)
	}
	// Insert-only: the emails stay queued, which these tests do not read.
	queue, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := identity.NewHasher(identity.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	svc := identity.NewService(identity.Config{
		Store: postgres.New(pool, queue), Hasher: hasher, Signer: identity.NewSigner(key, authtest.Issuer, authtest.Audience, 15*time.Minute),
		RefreshTTL: time.Hour, Throttle: identity.DefaultLoginThrottle,
	})
	keys := authtest.NewKeys(t)
	logFile, err := os.CreateTemp(t.TempDir(), "identity-*.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	logs := serverLog(logFile.Name())
	srv, _ := grpcservice.NewServer(grpcservice.Options{
		Logger: telemetry.NewLogger("identity", logFile),
		Auth:   callauth.NewServer("identity", []byte(authtest.Secret), keys.Verifier(), grpcapi.Policy()),
	})
	identityv1.RegisterIdentityServiceServer(srv, grpcapi.NewServer(svc, grpcapi.NewMetrics(prometheus.NewRegistry())))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	// A plain client, without tracing of its own: the test sets the trace
	// context it sends.
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authtest.Minter(t, "gateway").Credentials("identity")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &harness{svc: svc, pool: pool, keys: keys, logs: logs, addr: lis.Addr().String(), client: identityv1.NewIdentityServiceClient(conn)}
}

// admin creates an active admin and returns its id and an access token.
func (h *harness) admin(t *testing.T, email string) (string, context.Context) {
	t.Helper()
	u, _, err := h.svc.CreateAdmin(context.Background(), email, "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID.String(), callauth.WithUserToken(context.Background(), h.keys.AccessToken(t, u.ID.String(), true))
}

// TestInternalErrorLoggedOnceWithCause: an unexpected failure reaches the
// caller as a bare "internal error", and the server's log holds its cause
// once, with the caller's trace id.
func TestInternalErrorLoggedOnceWithCause(t *testing.T) {
	t.Parallel()
	h := setup(t)
	if _, err := h.pool.Exec(context.Background(), "DROP TABLE signing_keys"); err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	_, err := h.client.GetSigningKeys(ctx, &identityv1.GetSigningKeysRequest{})
	if st, _ := status.FromError(err); st.Code() != codes.Internal || rpcerr.Reason(err) != rpcerr.Internal || st.Message() != "internal error" {
		t.Fatalf("GetSigningKeys = %v, want a bare internal error", err)
	}
	var found []map[string]any
	for _, rec := range h.logs.records(t) {
		if strings.Contains(fmt.Sprint(rec["err"]), `relation "signing_keys" does not exist`) {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		t.Fatalf("log lines with the cause = %d, want 1; log:\n%s", len(found), h.logs.String())
	}
	if found[0]["trace_id"] != traceID || found[0]["method"] != identityv1.IdentityService_GetSigningKeys_FullMethodName {
		t.Fatalf("log line = %v, want trace_id %s and the method", found[0], traceID)
	}
}

// TestAdminCannotDemoteSelfByAnotherSpelling: the self-lockout rule
// compares ids, not their text, so an upper-case spelling of one's own id
// is still oneself.
func TestAdminCannotDemoteSelfByAnotherSpelling(t *testing.T) {
	t.Parallel()
	h := setup(t)
	id, ctx := h.admin(t, "root@example.com")
	for _, req := range []*identityv1.AdminUpdateUserRequest{
		{Id: strings.ToUpper(id), IsAdmin: new(false)},
		{Id: strings.ToUpper(id), IsActive: new(false)},
	} {
		_, err := h.client.AdminUpdateUser(ctx, req)
		if status.Code(err) != codes.FailedPrecondition || rpcerr.Reason(err) != rpcerr.Conflict {
			t.Fatalf("AdminUpdateUser(%v) = %v, want FailedPrecondition/conflict", req, err)
		}
	}
	got, err := h.client.GetUser(ctx, &identityv1.GetUserRequest{})
	if err != nil || !got.GetUser().GetIsAdmin() || !got.GetUser().GetIsActive() {
		t.Fatalf("GetUser = %v, %v; want an active admin still", got, err)
	}
}

// TestListLimits: lists take limits 1..200 (platform/paging), as the
// other services and the gateway; a larger one is refused, not capped.
func TestListLimits(t *testing.T) {
	t.Parallel()
	h := setup(t)
	_, ctx := h.admin(t, "root@example.com")
	tests := []struct {
		limit int32
		ok    bool
	}{{0, true}, {200, true}, {201, false}, {-1, false}}
	for _, tc := range tests {
		_, uerr := h.client.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{Limit: tc.limit})
		_, aerr := h.client.AdminListAuditEvents(ctx, &identityv1.AdminListAuditEventsRequest{Limit: tc.limit})
		for _, err := range []error{uerr, aerr} {
			if tc.ok && err != nil {
				t.Errorf("limit %d: %v", tc.limit, err)
			}
			if f := rpcerr.Fields(err); !tc.ok && (rpcerr.Reason(err) != rpcerr.ValidationFailed || len(f) != 1 || f[0].Field != "limit") {
				t.Errorf("limit %d: %v, want validation_failed on limit", tc.limit, err)
			}
		}
	}
}

// serverLog is where the server under test logs: a file, which its
// goroutines append to and the test reads without sharing memory.
type serverLog string

func (l serverLog) String() string {
	b, _ := os.ReadFile(string(l))
	return string(b)
}

// records returns the JSON log lines written so far.
func (l serverLog) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, rec)
	}
	return out
}
