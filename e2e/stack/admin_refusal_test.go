package stack

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// adminCall is one admin method of a service, called directly.
type adminCall struct {
	method string
	call   func(ctx context.Context) error
}

// TestAdminRoutesAndMethodsRefuseNonAdmins: every admin route of the
// gateway answers 403 to a valid non-admin token, and every admin method of
// every service refuses a caller that holds the service secret and a real
// but non-admin user token (PermissionDenied) or no user token at all
// (Unauthenticated), so the role is checked again behind the gateway.
func TestAdminRoutesAndMethodsRefuseNonAdmins(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	admin := s.Admin(t)
	userTok, _, uid := s.Signup(t, "plain@example.com", "password-1")
	victimTok, _, victim := s.Signup(t, "victim@example.com", "password-1")
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": "guarded", "name": "Guarded", "webhook_url": "http://127.0.0.1:1/hook",
	}}); r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}

	// Every admin route of the gateway, taken from its router.
	var routes []string
	for _, r := range s.Gateway.Routes() {
		if strings.Contains(r, " /v1/admin/") {
			routes = append(routes, r)
		}
	}
	if len(routes) < 10 || !slices.Contains(routes, "GET /v1/admin/audit") {
		t.Fatalf("admin routes %v", routes)
	}
	bodies := map[string]any{
		"PATCH /v1/admin/users/{id}":              map[string]any{"is_admin": true},
		"POST /v1/admin/users/{id}/adjustments":   map[string]any{"amount_cents": 100000, "reason": "free money"},
		"POST /v1/admin/workflows":                map[string]any{"slug": "evil", "name": "Evil", "webhook_url": "http://127.0.0.1:1/x"},
		"PATCH /v1/admin/workflows/{slug}":        map[string]any{"fee_cents": 0},
		"GET /v1/admin/transactions?format=csv":   nil,
		"GET /v1/admin/runs?format=csv":           nil,
		"GET /v1/admin/audit?target_id=" + victim: nil,
	}
	routes = append(routes, "GET /v1/admin/transactions?format=csv", "GET /v1/admin/runs?format=csv", "GET /v1/admin/audit?target_id="+victim)
	for _, route := range routes {
		t.Run(route, func(t *testing.T) {
			method, path, _ := strings.Cut(route, " ")
			path = strings.NewReplacer("{id}", uid, "{slug}", "guarded").Replace(path)
			req := Request{Method: method, Path: path, Token: userTok, Body: bodies[route],
				Headers: map[string]string{"Idempotency-Key": "sneaky-" + strconv.Itoa(len(route))}}
			if req.Body == nil && method != "GET" {
				req.Body = map[string]any{}
			}
			wantProblem(t, s.Do(t, req), 403, "forbidden")
			req.Token = victimTok
			wantProblem(t, s.Do(t, req), 403, "forbidden")
		})
	}

	// The services, called directly with the gateway's credentials.
	minter, err := callauth.NewMinter("gateway", []byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(addr, name string) *grpc.ClientConn {
		conn, err := grpcservice.Dial(addr, minter.Credentials(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	id := identityv1.NewIdentityServiceClient(dial(s.IdentityAddr, "identity"))
	wal := walletv1.NewWalletServiceClient(dial(s.WalletAddr, "wallet"))
	wf := workflowv1.NewWorkflowServiceClient(dial(s.WorkflowAddr, "workflow"))
	hooks := notifyv1.NewWebhookServiceClient(dial(s.NotifyAddr, "notify"))
	yes, fee := true, int64(0)
	calls := map[string][]adminCall{
		identityv1.IdentityService_ServiceDesc.ServiceName: {
			{"AdminListUsers", func(ctx context.Context) error {
				_, err := id.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{})
				return err
			}},
			{"AdminUpdateUser", func(ctx context.Context) error {
				_, err := id.AdminUpdateUser(ctx, &identityv1.AdminUpdateUserRequest{Id: uid, IsAdmin: &yes})
				return err
			}},
			{"AdminListAuditEvents", func(ctx context.Context) error {
				_, err := id.AdminListAuditEvents(ctx, &identityv1.AdminListAuditEventsRequest{})
				return err
			}},
			{"AdminGetUserStats", func(ctx context.Context) error {
				_, err := id.AdminGetUserStats(ctx, &identityv1.AdminGetUserStatsRequest{})
				return err
			}},
		},
		walletv1.WalletService_ServiceDesc.ServiceName: {
			{"AdminAdjustBalance", func(ctx context.Context) error {
				_, err := wal.AdminAdjustBalance(ctx, &walletv1.AdminAdjustBalanceRequest{UserId: uid, AmountCents: 100000, Reason: "free money"})
				return err
			}},
			{"AdminListTransactions", func(ctx context.Context) error {
				_, err := wal.AdminListTransactions(ctx, &walletv1.AdminListTransactionsRequest{})
				return err
			}},
			{"AdminGetWallets", func(ctx context.Context) error {
				_, err := wal.AdminGetWallets(ctx, &walletv1.AdminGetWalletsRequest{UserIds: []string{victim}})
				return err
			}},
			{"AdminListAuditEvents", func(ctx context.Context) error {
				_, err := wal.AdminListAuditEvents(ctx, &walletv1.AdminListAuditEventsRequest{})
				return err
			}},
			{"AdminGetStats", func(ctx context.Context) error {
				_, err := wal.AdminGetStats(ctx, &walletv1.AdminGetStatsRequest{})
				return err
			}},
			{"AdminGetAutomation", func(ctx context.Context) error {
				_, err := wal.AdminGetAutomation(ctx, &walletv1.AdminGetAutomationRequest{UserId: victim})
				return err
			}},
			{"AdminListDisputes", func(ctx context.Context) error {
				_, err := wal.AdminListDisputes(ctx, &walletv1.AdminListDisputesRequest{})
				return err
			}},
			{"AdminListDebts", func(ctx context.Context) error {
				_, err := wal.AdminListDebts(ctx, &walletv1.AdminListDebtsRequest{})
				return err
			}},
		},
		workflowv1.WorkflowService_ServiceDesc.ServiceName: {
			{"AdminListRuns", func(ctx context.Context) error {
				_, err := wf.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{})
				return err
			}},
			{"AdminGetRun", func(ctx context.Context) error {
				_, err := wf.AdminGetRun(ctx, &workflowv1.AdminGetRunRequest{Id: uid})
				return err
			}},
			{"AdminListWorkflows", func(ctx context.Context) error {
				_, err := wf.AdminListWorkflows(ctx, &workflowv1.AdminListWorkflowsRequest{})
				return err
			}},
			{"AdminCreateWorkflow", func(ctx context.Context) error {
				_, err := wf.AdminCreateWorkflow(ctx, &workflowv1.AdminCreateWorkflowRequest{Slug: "evil", Name: "Evil", WebhookUrl: "http://127.0.0.1:1/x"})
				return err
			}},
			{"AdminUpdateWorkflow", func(ctx context.Context) error {
				_, err := wf.AdminUpdateWorkflow(ctx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "guarded", FeeCents: &fee})
				return err
			}},
			{"AdminListAuditEvents", func(ctx context.Context) error {
				_, err := wf.AdminListAuditEvents(ctx, &workflowv1.AdminListAuditEventsRequest{})
				return err
			}},
			{"AdminGetRunStats", func(ctx context.Context) error {
				_, err := wf.AdminGetRunStats(ctx, &workflowv1.AdminGetRunStatsRequest{})
				return err
			}},
		},
		notifyv1.WebhookService_ServiceDesc.ServiceName: {
			{"AdminListEndpoints", func(ctx context.Context) error {
				_, err := hooks.AdminListEndpoints(ctx, &notifyv1.AdminListEndpointsRequest{UserId: victim})
				return err
			}},
			{"AdminListDeliveries", func(ctx context.Context) error {
				_, err := hooks.AdminListDeliveries(ctx, &notifyv1.AdminListDeliveriesRequest{UserId: victim})
				return err
			}},
		},
	}
	// Every method of every service is either in the table above or known
	// not to be an admin method, so a new admin RPC cannot go untested.
	notAdmin := map[string][]string{
		identityv1.IdentityService_ServiceDesc.ServiceName: {"SignUp", "Login", "Refresh", "Logout", "GetUser", "GetSigningKeys",
			"CreateAPIKey", "ListAPIKeys", "RevokeAPIKey", "AuthenticateAPIKey", "GetUserContact",
			"VerifyEmail", "ResendVerification", "RequestPasswordReset", "ConfirmPasswordReset", "ChangePassword", "LogoutAll"},
		walletv1.WalletService_ServiceDesc.ServiceName: {"GetWallet", "ListTransactions", "CreateTopUp", "GetTopUp", "HandleStripeEvent", "Reserve", "Capture", "Release",
			"GetAPIKeySpend", "GetWalletSettings", "UpdateWalletSettings", "CreatePaymentMethodSession", "DeletePaymentMethod", "GetSpendByDay"},
		workflowv1.WorkflowService_ServiceDesc.ServiceName: {"ListWorkflows", "StartRun", "GetRun", "ListRuns", "SubmitRunVerdict", "GetRunStats"},
		notifyv1.WebhookService_ServiceDesc.ServiceName: {"CreateEndpoint", "ListEndpoints", "UpdateEndpoint", "DeleteEndpoint", "RotateSecret",
			"SendTest", "ListDeliveries", "RetryDelivery"},
	}
	for _, desc := range []grpc.ServiceDesc{identityv1.IdentityService_ServiceDesc, walletv1.WalletService_ServiceDesc, workflowv1.WorkflowService_ServiceDesc,
		notifyv1.WebhookService_ServiceDesc} {
		for _, m := range desc.Methods {
			admin := slices.ContainsFunc(calls[desc.ServiceName], func(c adminCall) bool { return c.method == m.MethodName })
			if admin == slices.Contains(notAdmin[desc.ServiceName], m.MethodName) {
				t.Errorf("%s/%s: list it either as an admin method (and test it) or as a non-admin one", desc.ServiceName, m.MethodName)
			}
		}
	}
	for svc, list := range calls {
		for _, c := range list {
			t.Run(svc+"/"+c.method, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := c.call(callauth.WithUserToken(ctx, userTok)); status.Code(err) != codes.PermissionDenied {
					t.Errorf("with a non-admin user token: %v, want PermissionDenied", err)
				}
				if err := c.call(ctx); status.Code(err) != codes.Unauthenticated {
					t.Errorf("without a user token: %v, want Unauthenticated", err)
				}
			})
		}
	}

	// Nothing changed: no money, no promotion, no new or edited workflow.
	if w := balance(t, s, userTok); w["balance_cents"].(float64) != 0 {
		t.Fatalf("wallet %v", w)
	}
	if me := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: s.Login(t, "plain@example.com", "password-1")}).JSON(t); me["is_admin"] != false {
		t.Fatalf("me %v", me)
	}
	r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/workflows", Token: admin})
	if strings.Contains(string(r.Body), `"slug":"evil"`) || !strings.Contains(string(r.Body), `"fee_cents":10`) {
		t.Fatalf("workflows %s", r.Body)
	}
	if p := getAudit(t, s, admin, "?target_id="+uid); len(p.Items) != 0 {
		t.Fatalf("audit events about the non-admin: %+v", p.Items)
	}
}
