package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// fuzzRoutes are the public routes that read a body, path or query
// parameters: the fuzzers pick one by index.
var fuzzRoutes = []struct {
	method, path string // path: "{p}" is replaced by the fuzzed path parameter
	body         bool
}{
	{"POST", "/v1/auth/signup", true},
	{"POST", "/v1/auth/login", true},
	{"POST", "/v1/auth/refresh", true},
	{"POST", "/v1/auth/logout", true},
	{"GET", "/v1/wallet/transactions", false},
	{"POST", "/v1/wallet/topups", true},
	{"GET", "/v1/wallet/topups/{p}", false},
	{"POST", "/v1/webhooks/stripe", true},
	{"GET", "/v1/workflows", false},
	{"POST", "/v1/workflows/{p}/runs", true},
	{"GET", "/v1/runs", false},
	{"GET", "/v1/runs/{p}", false},
	{"GET", "/v1/admin/users", false},
	{"GET", "/v1/admin/users/{p}", false},
	{"PATCH", "/v1/admin/users/{p}", true},
	{"POST", "/v1/admin/users/{p}/adjustments", true},
	{"GET", "/v1/admin/transactions", false},
	{"GET", "/v1/admin/runs", false},
	{"GET", "/v1/admin/audit", false},
	{"GET", "/v1/admin/workflows", false},
	{"POST", "/v1/admin/workflows", true},
	{"PATCH", "/v1/admin/workflows/{p}", true},
	{"POST", "/v1/webhook-endpoints", true},
	{"GET", "/v1/webhook-endpoints", false},
	{"PATCH", "/v1/webhook-endpoints/{p}", true},
	{"GET", "/v1/webhook-endpoints/{p}/deliveries", false},
	{"POST", "/v1/webhook-deliveries/{p}/retry", false},
	{"GET", "/v1/admin/users/{p}/webhook-deliveries", false},
}

// notFoundBackend serves gRPC on an in-memory listener and answers every
// call NotFound: a request that gets past the gateway's own decoding reaches
// it and is answered 404, so the fuzzers can tell the decoders' verdicts
// (4xx) from the backend's (404) and from failures (5xx).
func notFoundBackend(tb testing.TB) *grpc.ClientConn {
	tb.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "not found")
	}))
	go func() { _ = srv.Serve(lis) }()
	tb.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// fuzzServer is the HTTP layer over the NotFound backend, without rate
// limits (the fuzzers would only meet 429s), trusting authtest's key and
// our own key "ours".
func fuzzServer(tb testing.TB, identity identityv1.IdentityServiceClient) (*Server, *keys) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	k := &keys{test: authtest.NewKeys(tb), pub: pub, priv: priv}
	tv, err := callauth.NewCachingVerifier(callauth.AccessVerifier{Keys: k, Issuer: authtest.Issuer, Audience: authtest.Audience}, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	conn := notFoundBackend(tb)
	if identity == nil {
		identity = identityv1.NewIdentityServiceClient(conn)
	}
	srv, err := New(Deps{
		Identity: identity, Wallet: walletv1.NewWalletServiceClient(conn), Workflow: workflowv1.NewWorkflowServiceClient(conn),
		Webhooks: notifyv1.NewWebhookServiceClient(conn),
		Tokens:   tv, OpenAPI: func() ([]byte, error) { return []byte(`{"openapi":"3.1.0"}`), nil }, CallTimeout: 5 * time.Second, RunTimeout: 5 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, k
}

// fuzzDo sends req with a deadline, so a hang fails the fuzzer.
func fuzzDo(t *testing.T, srv *Server, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := srv.App().Test(req, 20000)
	if err != nil && strings.Contains(err.Error(), "small read buffer") {
		// Over the read buffer: a real listener answers 431 through the error handler.
		t.Skip("request headers over the read buffer")
	}
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, buf.Bytes()
}

// checkAnswer fails on any 5xx, and checks every 4xx is a well-formed
// problem document.
func checkAnswer(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s answered %d: %s", req.Method, req.URL, resp.StatusCode, body)
	}
	if resp.StatusCode < 400 {
		return
	}
	var p problemBody
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s answered %d with Content-Type %q", req.Method, req.URL, resp.StatusCode, ct)
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != resp.StatusCode || p.Code == "" || p.Title == "" {
		t.Fatalf("%s %s answered %d with a bad problem document (%v): %s", req.Method, req.URL, resp.StatusCode, err, body)
	}
}

// FuzzRequestDecoders sends arbitrary bodies, content types, path and query
// parameters, Idempotency-Key (also sent as Stripe-Signature) and Accept
// headers to every public route that
// reads them, as an admin: no input may panic or answer 5xx, every refusal
// is a problem document, and a body reaches the services only when it is
// one JSON value sent as JSON (strict decoding).
func FuzzRequestDecoders(f *testing.F) {
	type seed struct {
		route                 uint8
		param, query, ct, key string
		accept                string
		body                  string
	}
	seeds := []seed{
		{0, "", "", "application/json", "", "", `{"email":"ada@example.com","password":"correct horse battery"}`},
		{1, "", "", "application/json; charset=utf-8", "", "", `{"email":"a","password":"b","extra":1}`},
		{2, "", "", "application/json", "", "", `{"refresh_token":1}`},
		{3, "", "", "text/plain", "", "", `{"refresh_token":"x"}`},
		{3, "", "", "application/json", "", "", `{"refresh_token":"x"} {}`},
		{4, "", "limit=200&cursor=abc&kind=deposit", "", "", "", ""},
		{4, "", "limit=0&kind=nope", "", "", "", ""},
		{4, "", "limit=-1&limit=2", "", "", "", ""},
		{5, "", "", "application/json", "key-1", "", `{"amount_cents":1000,"success_url":"https://x/s","cancel_url":"https://x/c"}`},
		{5, "", "", "application/json", "\x00bad key", "", `{"amount_cents":1e99}`},
		{6, "00000000-0000-0000-0000-000000000000", "", "", "", "", ""},
		{6, "{00000000-0000-0000-0000-000000000000}", "", "", "", "", ""},
		{7, "", "", "application/json", "", "", `{"id":"evt_1","type":"checkout.session.completed"}`},
		{7, "", "", "application/json", "t=1,v1=\xff", "", `{}`},
		{12, "", "q=%ff", "", "", "", ""},
		{10, "", "workflow=%C3&cursor=%80", "", "", "", ""},
		{8, "", "limit=1", "", "", "", ""},
		{9, "greet", "async=true", "application/json", "k", "", `{"input":{"name":"ada"}}`},
		{9, "greet", "async=maybe", "application/json", "", "", `{"input":[1]}`},
		{9, "greet", "", "application/json", "", "", `{"input":"\ud800"}`},
		{10, "", "status=failed&workflow=greet&cursor=" + strings.Repeat("x", 1025), "", "", "", ""},
		{11, "not-a-uuid", "", "", "", "", ""},
		{12, "", "q=ada&limit=50", "", "", "", ""},
		{13, "00000000-0000-0000-0000-000000000000", "", "", "", "", ""},
		{14, "00000000-0000-0000-0000-000000000000", "", "application/json", "", "", `{"is_active":false,"reason":"abuse"}`},
		{15, "00000000-0000-0000-0000-000000000000", "", "application/json", "adj-1", "", `{"amount_cents":-9223372036854775808,"reason":"x"}`},
		{16, "", "format=csv&user_id=00000000-0000-0000-0000-000000000000&from=2026-01-02T15:04:05Z&to=2026-01-01T00:00:00Z", "", "", "", ""},
		{16, "", "", "", "", "text/csv;q=0.9, application/json;q=0.1", ""},
		{17, "", "format=json&status=queued&workflow=" + strings.Repeat("w", 501), "", "", "", ""},
		{18, "", "source=wallet&target_id=x&limit=201", "", "", "", ""},
		{19, "", "", "", "", "*/*;q=abc", ""},
		{20, "", "", "application/json", "", "", `{"slug":"greet","name":"G","webhook_url":"http://127.0.0.1:5678/webhook/greet","fee_cents":10,"timeout_ms":5000,"active":true}`},
		{21, "greet", "", "application/merge-patch+json", "", "", `{"fee_cents":"10"}`},
		{21, "greet", "", "application/json", "", "", `nul`},
	}
	for _, s := range seeds {
		f.Add(s.route, s.param, s.query, s.ct, s.key, s.accept, []byte(s.body))
	}
	srv, k := fuzzServer(f, nil)
	admin := k.test.AccessToken(f, "00000000-0000-0000-0000-000000000001", true)
	f.Fuzz(func(t *testing.T, route uint8, param, query, ct, key, accept string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		target := "http://gateway.test" + strings.ReplaceAll(r.path, "{p}", url.PathEscape(param))
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest(r.method, target, bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		for name, v := range map[string]string{"Content-Type": ct, "Idempotency-Key": key, "Accept": accept, "Stripe-Signature": key} {
			if v != "" && validHeaderValue(v) {
				req.Header.Set(name, v)
			}
		}
		resp, out := fuzzDo(t, srv, req)
		checkAnswer(t, req, resp, out)
		if resp.StatusCode == http.StatusNotFound && r.body && r.path != "/v1/webhooks/stripe" {
			// The request reached a service (or named no resource): its
			// body must have been one JSON value.
			var p problemBody
			_ = json.Unmarshal(out, &p)
			if p.Code == rpcerr.NotFound && !strings.Contains(r.path, "{p}") && !json.Valid(body) {
				t.Fatalf("%s %s: a body that is not JSON reached the service: %q", r.method, r.path, body)
			}
		}
	})
}

// FuzzJWTMiddleware: any Authorization header is either refused with a 401
// problem document or lets the request through (200 from /v1/me); never a
// 5xx or a panic. Tokens signed with a trusted key over fuzzed headers and
// claims exercise the parsing after the signature check too; a fuzzed
// header passes only when it carries the valid token the test minted.
func FuzzJWTMiddleware(f *testing.F) {
	srv, k := fuzzServer(f, stubIdentity{})
	valid := k.test.AccessToken(f, "user-1", false)
	now := time.Now().Unix()
	claims := func(extra string) string {
		return `{"iss":"` + authtest.Issuer + `","aud":"` + authtest.Audience + `","sub":"user-1","iat":` +
			jsonInt(now) + `,"exp":` + jsonInt(now+600) + extra + `}`
	}
	for _, s := range []struct {
		mode        uint8
		header, hdr string
		claims      string
	}{
		{0, "Bearer " + valid, "", ""},
		{0, "bearer   " + valid + "  ", "", ""},
		{0, "Bearer", "", ""},
		{0, "Basic dXNlcjpwYXNz", "", ""},
		{0, "Bearer a.b.c", "", ""},
		{0, "Bearer " + strings.Repeat("A", 5000), "", ""},
		{0, "Bearer eyJhbGciOiJub25lIn0.e30.", "", ""},
		{1, "", `{"alg":"EdDSA","kid":"ours","typ":"JWT"}`, claims("")},
		{1, "", `{"alg":"EdDSA","kid":"ours"}`, claims(`,"admin":"yes"`)},
		{1, "", `{"alg":"EdDSA","kid":"ours"}`, `{"sub":"u","exp":1e300,"iat":-1e300,"iss":"` + authtest.Issuer + `","aud":["` + authtest.Audience + `"]}`},
		{1, "", `{"alg":"EdDSA","kid":"ours"}`, `{"sub":"u","exp":"soon","aud":null}`},
		{1, "", `{"alg":"EdDSA","kid":["ours"]}`, claims("")},
		{1, "", `{"alg":"HS256","kid":"ours"}`, claims("")},
		{1, "", `{"alg":"EdDSA","kid":"unknown"}`, claims("")},
		{1, "", `[]`, `null`},
	} {
		f.Add(s.mode, s.header, s.hdr, []byte(s.claims))
	}
	f.Fuzz(func(t *testing.T, mode uint8, header, tokHeader string, claims []byte) {
		if mode%2 == 1 {
			// A token signed with our trusted key over fuzzed header and claims.
			signing := base64.RawURLEncoding.EncodeToString([]byte(tokHeader)) + "." + base64.RawURLEncoding.EncodeToString(claims)
			sig, err := jwt.SigningMethodEdDSA.Sign(signing, k.priv)
			if err != nil {
				t.Fatal(err)
			}
			header = "Bearer " + signing + "." + base64.RawURLEncoding.EncodeToString(sig)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://gateway.test/v1/me", nil)
		if !validHeaderValue(header) {
			return
		}
		req.Header.Set("Authorization", header)
		resp, body := fuzzDo(t, srv, req)
		switch resp.StatusCode {
		case http.StatusOK:
			if mode%2 == 0 && !strings.Contains(header, valid) {
				t.Fatalf("header %q passed without the minted token", header)
			}
			if mode%2 == 1 {
				p, err := (callauth.AccessVerifier{Keys: k, Issuer: authtest.Issuer, Audience: authtest.Audience}).
					Verify(context.Background(), strings.TrimPrefix(header, "Bearer "))
				if err != nil || p.UserID == "" || !time.Now().Before(p.ExpiresAt.Add(callauth.Leeway)) {
					t.Fatalf("token passed the middleware but not the verifier: %v %+v", err, p)
				}
			}
		case http.StatusUnauthorized:
			checkAnswer(t, req, resp, body)
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		default:
			t.Fatalf("Authorization %q answered %d: %s", header, resp.StatusCode, body)
		}
	})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// validHeaderValue mirrors net/http's check: values a client can send.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
