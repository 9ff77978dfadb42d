package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

func login(b bundle, t *testing.T, ip string) (*http.Response, []byte) {
	req := newReq(http.MethodPost, "/v1/auth/login", `{"email":"a@example.com","password":"password1"}`)
	req.Header.Set("X-Forwarded-For", ip)
	return b.do(t, req)
}

func TestAuthFloodFromOneIP(t *testing.T) {
	t.Parallel()
	// app.Test connections come from 0.0.0.0; trusting it lets the test pick
	// client addresses through X-Forwarded-For.
	b := setup(t, setupOpts{limits: Limits{AuthPerMinute: 5, RunsPerMinute: 10, APIPerMinute: 100}, proxies: "0.0.0.0/32"})
	for i := range 5 {
		resp, body := login(b, t, "198.51.100.1")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if resp.Header.Get("RateLimit-Limit") != "5" || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(4-i) {
			t.Fatalf("request %d: RateLimit-Limit %q Remaining %q", i, resp.Header.Get("RateLimit-Limit"), resp.Header.Get("RateLimit-Remaining"))
		}
		if resp.Header.Get("RateLimit-Reset") == "" {
			t.Fatal("RateLimit-Reset missing")
		}
	}
	resp, body := login(b, t, "198.51.100.1")
	wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Limit") != "5" {
		t.Fatal("429 without RateLimit headers")
	}
	// Another client IP has its own budget; a spoofed header from an
	// untrusted peer would not help (see clientip tests).
	if resp, body := login(b, t, "198.51.100.2"); resp.StatusCode != 200 {
		t.Fatalf("other IP: %d %s", resp.StatusCode, body)
	}
}

func TestRedisDownFallbackStillLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{
		limits:   Limits{AuthPerMinute: 3, RunsPerMinute: 10, APIPerMinute: 100},
		redisURL: "redis://127.0.0.1:1/0", // nothing listens there
	})
	for i := range 3 {
		resp, body := login(b, t, "")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if resp.Header.Get("RateLimit-Limit") != "3" {
			t.Fatal("fallback answers without RateLimit headers")
		}
	}
	resp, body := login(b, t, "")
	wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("Retry-After missing")
	}
	if !b.limiter.FallbackActive() {
		t.Fatal("the limiter does not report the fallback")
	}
}

func TestRunLimitNeverReachesWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{limits: Limits{AuthPerMinute: 10, RunsPerMinute: 2, APIPerMinute: 100}})
	tok := b.keys.test.AccessToken(t, "runner", false)
	for i := range 2 {
		resp, body := b.do(t, withToken(newReq(http.MethodPost, "/v1/workflows/echo/runs", `{"input":{"n":1}}`), tok))
		if resp.StatusCode != 200 {
			t.Fatalf("run %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := b.do(t, withToken(newReq(http.MethodPost, "/v1/workflows/echo/runs", `{"input":{"n":1}}`), tok))
	wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	if n := b.starts.Load(); n != 2 {
		t.Fatalf("workflow saw %d runs, want 2", n)
	}
	// Another user is not limited by the first one's runs.
	other := b.keys.test.AccessToken(t, "other", false)
	if resp, body := b.do(t, withToken(newReq(http.MethodPost, "/v1/workflows/echo/runs", `{"input":{}}`), other)); resp.StatusCode != 200 {
		t.Fatalf("other user: %d %s", resp.StatusCode, body)
	}
}

func TestRunInputAndOutcome(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{workflow: func(req *workflowv1.StartRunRequest) (*workflowv1.StartRunResponse, error) {
		status := "succeeded"
		if string(req.GetInputJson()) == `{"fail":true}` {
			status = "failed"
		}
		if req.GetAsync() {
			status = "queued"
		}
		r := &workflowv1.Run{Id: "r1", Workflow: req.GetWorkflow(), Status: status, FeeCents: 10, InputJson: req.GetInputJson(), CreatedAt: timestamppb.Now()}
		if status == "failed" {
			r.Error = "n8n answered 500"
			r.HttpStatus = 500
		}
		return &workflowv1.StartRunResponse{Run: r}, nil
	}})
	tok := b.keys.test.AccessToken(t, "u", false)
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"object input", "/v1/workflows/echo/runs", `{"input":{"a":[1,2]}}`, 200, ""},
		{"absent input is {}", "/v1/workflows/echo/runs", `{}`, 200, ""},
		{"array input", "/v1/workflows/echo/runs", `{"input":[1]}`, 400, "validation_failed"},
		{"string input", "/v1/workflows/echo/runs", `{"input":"x"}`, 400, "validation_failed"},
		{"null input", "/v1/workflows/echo/runs", `{"input":null}`, 400, "validation_failed"},
		{"unknown field", "/v1/workflows/echo/runs", `{"input":{},"fee":0}`, 400, "validation_failed"},
		{"failed run", "/v1/workflows/echo/runs", `{"input":{"fail":true}}`, 502, "workflow_failed"},
		{"async", "/v1/workflows/echo/runs?async=true", `{"input":{}}`, 202, ""},
		{"bad async", "/v1/workflows/echo/runs?async=maybe", `{"input":{}}`, 400, "validation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := b.do(t, withToken(newReq(http.MethodPost, tt.path, tt.body), tok))
			if tt.code != "" {
				p := wantProblem(t, resp, body, tt.status, tt.code)
				if tt.code == "workflow_failed" && (p.Run == nil || p.Run["status"] != "failed" || p.Run["charged_cents"] != 0.0) {
					t.Fatalf("workflow_failed without the run: %s", body)
				}
				return
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var run map[string]any
			if err := json.Unmarshal(body, &run); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"id", "workflow", "status", "fee_cents", "charged_cents", "input", "output", "error", "http_status", "started_at", "finished_at", "duration_ms", "created_at"} {
				if _, ok := run[k]; !ok {
					t.Errorf("run lacks %q: %s", k, body)
				}
			}
			if run["duration_ms"] != nil || run["started_at"] != nil {
				t.Errorf("absent values must be null: %s", body)
			}
		})
	}
}

func TestListParams(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	tok := b.keys.test.AccessToken(t, "u", false)
	for _, q := range []string{"limit=0", "limit=201", "limit=abc", "limit=-1", "status=done", "workflow=x&status=nope"} {
		resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/runs?"+q, ""), tok))
		wantProblem(t, resp, body, http.StatusBadRequest, "validation_failed")
	}
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/wallet/transactions?kind=gift", ""), tok))
	wantProblem(t, resp, body, http.StatusBadRequest, "validation_failed")
	resp, body = b.do(t, withToken(newReq(http.MethodGet, "/v1/runs/not-a-uuid", ""), tok))
	wantProblem(t, resp, body, http.StatusNotFound, "not_found")
	req := withToken(newReq(http.MethodPost, "/v1/wallet/topups", `{"amount_cents":500}`), tok)
	req.Header.Set("Idempotency-Key", string(make([]byte, 256)))
	resp, body = b.do(t, req)
	wantProblem(t, resp, body, http.StatusBadRequest, "validation_failed")
}

// topUpWallet counts the top-ups it opens (each would be a Stripe call).
type topUpWallet struct {
	stubWallet
	created atomic.Int64
}

func (w *topUpWallet) CreateTopUp(_ context.Context, req *walletv1.CreateTopUpRequest, _ ...grpc.CallOption) (*walletv1.CreateTopUpResponse, error) {
	w.created.Add(1)
	return &walletv1.CreateTopUpResponse{TopUp: &walletv1.TopUp{
		Id: uuid.NewString(), CheckoutSessionId: "cs_test", CheckoutUrl: "https://checkout.stripe.test/x", AmountCents: req.GetAmountCents(), Status: "pending",
	}}, nil
}

func (w *topUpWallet) GetWallet(context.Context, *walletv1.GetWalletRequest, ...grpc.CallOption) (*walletv1.GetWalletResponse, error) {
	return &walletv1.GetWalletResponse{Wallet: &walletv1.Wallet{Currency: "usd"}}, nil
}

// TestTopUpLimitNeverReachesWallet: top-up creation has its own low
// per-user budget, answered with the contract's headers, before any call
// that would reach Stripe; other wallet routes and other users keep theirs.
func TestTopUpLimitNeverReachesWallet(t *testing.T) {
	t.Parallel()
	w := &topUpWallet{}
	b := setup(t, setupOpts{wallet: w, limits: Limits{AuthPerMinute: 10, RunsPerMinute: 10, APIPerMinute: 100, TopUpsPerMinute: 3}})
	tok := b.keys.test.AccessToken(t, "payer", false)
	topUp := func(tok string, i int) (*http.Response, []byte) {
		req := withToken(newReq(http.MethodPost, "/v1/wallet/topups", `{"amount_cents":500}`), tok)
		req.Header.Set("Idempotency-Key", "topup-"+strconv.Itoa(i))
		return b.do(t, req)
	}
	for i := range 3 {
		resp, body := topUp(tok, i)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("top-up %d: %d %s", i, resp.StatusCode, body)
		}
		if resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) || resp.Header.Get("RateLimit-Reset") == "" {
			t.Fatalf("top-up %d: RateLimit-Limit %q Remaining %q Reset %q", i, resp.Header.Get("RateLimit-Limit"),
				resp.Header.Get("RateLimit-Remaining"), resp.Header.Get("RateLimit-Reset"))
		}
	}
	resp, body := topUp(tok, 3)
	wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("RateLimit-Limit") != "3" || resp.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers %v", resp.Header)
	}
	if n := w.created.Load(); n != 3 {
		t.Fatalf("the wallet opened %d top-ups, want 3", n)
	}
	// The wallet itself is still readable (the api budget), and another
	// user has a budget of their own.
	resp, body = b.do(t, withToken(newReq(http.MethodGet, "/v1/wallet", ""), tok))
	if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Limit") != "100" {
		t.Fatalf("GET /v1/wallet: %d %s (limit %q)", resp.StatusCode, body, resp.Header.Get("RateLimit-Limit"))
	}
	if resp, body := topUp(b.keys.test.AccessToken(t, "other", false), 0); resp.StatusCode != http.StatusCreated {
		t.Fatalf("other user: %d %s", resp.StatusCode, body)
	}
}

// TestAuthLimitKeysIPv6On64: the per-IP auth budget of an IPv6 client is
// its /64's, so rotating through one's own addresses buys nothing; an
// IPv4-mapped address is the IPv4 client.
func TestAuthLimitKeysIPv6On64(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		spend, others []string // addresses spending the budget of 2, then more attempts
		otherAllowed  bool
	}{
		{"same /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2"}, []string{"2001:db8:1:2:ffff:ffff:ffff:fffe"}, false},
		{"other /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2"}, []string{"2001:db8:1:3::1"}, true},
		{"mapped is ipv4", []string{"198.51.100.20", "::ffff:198.51.100.20"}, []string{"198.51.100.20"}, false},
		{"ipv4 neighbours stay apart", []string{"198.51.100.30", "198.51.100.30"}, []string{"198.51.100.31"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{limits: Limits{AuthPerMinute: 2, RunsPerMinute: 10, APIPerMinute: 100}, proxies: "0.0.0.0/32"})
			for i, ip := range tt.spend {
				if resp, body := login(b, t, ip); resp.StatusCode != 200 {
					t.Fatalf("attempt %d from %s: %d %s", i, ip, resp.StatusCode, body)
				}
			}
			for _, ip := range tt.others {
				resp, body := login(b, t, ip)
				if tt.otherAllowed && resp.StatusCode != 200 {
					t.Fatalf("%s: %d %s, want its own budget", ip, resp.StatusCode, body)
				}
				if !tt.otherAllowed {
					wantProblem(t, resp, body, http.StatusTooManyRequests, "rate_limited")
				}
			}
		})
	}
}
