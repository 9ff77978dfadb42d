package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/apikeyauth"
	"github.com/meterflow/meterflow/gateway/internal/clientip"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// The stubs below stand in for the services in these unit tests of the
// HTTP layer; the real services are exercised by e2e/stack (ADR 0004).

type stubIdentity struct {
	identityv1.IdentityServiceClient
	getUser func(ctx context.Context) (*identityv1.GetUserResponse, error)
	login   func(req *identityv1.LoginRequest) (*identityv1.LoginResponse, error)
}

func (s stubIdentity) GetUser(ctx context.Context, _ *identityv1.GetUserRequest, _ ...grpc.CallOption) (*identityv1.GetUserResponse, error) {
	if s.getUser != nil {
		return s.getUser(ctx)
	}
	return &identityv1.GetUserResponse{User: &identityv1.User{Id: "u1", Email: "a@example.com", IsActive: true, CreatedAt: timestamppb.Now()}}, nil
}

func (s stubIdentity) Login(_ context.Context, req *identityv1.LoginRequest, _ ...grpc.CallOption) (*identityv1.LoginResponse, error) {
	if s.login != nil {
		return s.login(req)
	}
	return &identityv1.LoginResponse{
		User:   &identityv1.User{Id: "u1", Email: req.GetEmail(), IsActive: true, CreatedAt: timestamppb.Now()},
		Tokens: &identityv1.TokenPair{AccessToken: "a", RefreshToken: "r", ExpiresIn: 900},
	}, nil
}

type stubWorkflow struct {
	workflowv1.WorkflowServiceClient
	starts   *atomic.Int64
	startRun func(req *workflowv1.StartRunRequest) (*workflowv1.StartRunResponse, error)
}

func (s stubWorkflow) StartRun(_ context.Context, req *workflowv1.StartRunRequest, _ ...grpc.CallOption) (*workflowv1.StartRunResponse, error) {
	s.starts.Add(1)
	if s.startRun != nil {
		return s.startRun(req)
	}
	return &workflowv1.StartRunResponse{Run: &workflowv1.Run{
		Id: uuid.NewString(), Workflow: req.GetWorkflow(), Status: "succeeded", FeeCents: 10, ChargedCents: 10,
		InputJson: req.GetInputJson(), OutputJson: []byte(`{"ok":true}`), HttpStatus: 200, CreatedAt: timestamppb.Now(),
	}}, nil
}

type stubWallet struct{ walletv1.WalletServiceClient }

// keys trusts the authtest key ("test-key") and a key of our own ("ours"),
// with which the tests sign the tokens authtest cannot make (expired, wrong iss...).
type keys struct {
	test *authtest.Keys
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func (k *keys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	if kid == "ours" {
		return k.pub, nil
	}
	return k.test.PublicKey(ctx, kid)
}

type bundle struct {
	srv     *Server
	keys    *keys
	starts  *atomic.Int64
	limiter *ratelimit.Limiter
}

type setupOpts struct {
	limits   Limits
	redisURL string
	identity *stubIdentity
	workflow func(req *workflowv1.StartRunRequest) (*workflowv1.StartRunResponse, error)
	proxies  string
	cors     []string
	hsts     int
	log      *slog.Logger
	// wallet, workflowClient and identityClient replace the default stubs.
	wallet         walletv1.WalletServiceClient
	workflowClient workflowv1.WorkflowServiceClient
	identityClient identityv1.IdentityServiceClient
	// apiKeys authenticates API keys; nil refuses them.
	apiKeys      *apikeyauth.Authenticator
	csvMaxRows   int
	writeTimeout time.Duration
	// callTimeout is CallTimeout (default 5 s); the size tests, which move
	// tens of MiB under the race detector, give it more.
	callTimeout time.Duration
	// requireVerified is REQUIRE_VERIFIED_EMAIL.
	requireVerified bool
}

func redisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func uniquePrefix(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test:gateway:" + hex.EncodeToString(b) + ":"
}

func setup(t testing.TB, o setupOpts) bundle {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &keys{test: authtest.NewKeys(t), pub: pub, priv: priv}
	if o.redisURL == "" {
		o.redisURL = redisURL()
	}
	ropts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ropts.MaxRetries = 0
	ropts.DialerRetries = 1
	rdb := redis.NewClient(ropts)
	t.Cleanup(func() { _ = rdb.Close() })
	reg := prometheus.NewRegistry()
	lim, err := ratelimit.New(rdb, ratelimit.Options{Prefix: uniquePrefix(t), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if o.limits == (Limits{}) {
		o.limits = Limits{AuthPerMinute: 1000, RunsPerMinute: 1000, APIPerMinute: 1000, TopUpsPerMinute: 1000}
	}
	id := stubIdentity{}
	if o.identity != nil {
		id = *o.identity
	}
	ips, err := clientip.New("X-Forwarded-For", o.proxies)
	if err != nil {
		t.Fatal(err)
	}
	tv, err := callauth.NewCachingVerifier(callauth.AccessVerifier{Keys: k, Issuer: authtest.Issuer, Audience: authtest.Audience}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	starts := &atomic.Int64{}
	var wallet walletv1.WalletServiceClient = stubWallet{}
	if o.wallet != nil {
		wallet = o.wallet
	}
	var wf workflowv1.WorkflowServiceClient = stubWorkflow{starts: starts, startRun: o.workflow}
	if o.workflowClient != nil {
		wf = o.workflowClient
	}
	var idc identityv1.IdentityServiceClient = id
	if o.identityClient != nil {
		idc = o.identityClient
	}
	srv, err := New(Deps{
		Identity: idc, Wallet: wallet, Workflow: wf, APIKeys: o.apiKeys,
		Tokens: tv, Limiter: lim, ClientIP: ips, Registry: reg, Limits: o.limits,
		OpenAPI: func() ([]byte, error) { return []byte(`{"openapi":"3.1.0"}`), nil }, CORSOrigins: o.cors, HSTSMaxAge: o.hsts, Log: o.log,
		CSVMaxRows: o.csvMaxRows, WriteTimeout: o.writeTimeout, CallTimeout: o.callTimeout, RequireVerifiedEmail: o.requireVerified,
	})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{srv: srv, keys: k, starts: starts, limiter: lim}
}

// do sends req through the Fiber app and returns the response with its body read.
func (b bundle) do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := b.srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func newReq(method, path, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://gateway.test"+path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func withToken(req *http.Request, tok string) *http.Request {
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
	Run map[string]any `json:"run"`
}

// wantProblem checks resp is a problem document with status and code.
func wantProblem(t testing.TB, resp *http.Response, body []byte, status int, code string) problemBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, body)
	}
	if p.Code != code || p.Status != status || p.Type != "https://meterflow.dev/problems/"+code || p.Title == "" {
		t.Fatalf("problem = %+v, want status %d code %s", p, status, code)
	}
	return p
}

// listen serves the app on a real loopback listener until the test ends.
func (b bundle) listen(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.srv.Serve(lis) }()
	t.Cleanup(func() { _ = b.srv.App().Shutdown() })
	return lis.Addr().String()
}
