package api

import (
	"context"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/csvexport"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// maxQueryBytes bounds free-text filters (?q=, ?workflow=).
const maxQueryBytes = 500

// recentItems is how many transactions and runs the admin user detail shows.
const recentItems = 10

func (s *Server) adminListUsers(c *fiber.Ctx) error {
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Identity.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{Query: c.Query("q"), Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(resp.GetUsers()))
	for _, u := range resp.GetUsers() {
		ids = append(ids, u.GetId())
	}
	balances := map[string]int64{}
	if len(ids) > 0 {
		wr, err := s.d.Wallet.AdminGetWallets(ctx, &walletv1.AdminGetWalletsRequest{UserIds: ids})
		if err != nil {
			return err
		}
		for _, w := range wr.GetWallets() {
			balances[w.GetUserId()] = w.GetBalanceCents()
		}
	}
	items := make([]adminUserJSON, 0, len(resp.GetUsers()))
	for _, u := range resp.GetUsers() {
		items = append(items, adminUserJSON{userJSON: toUser(u), BalanceCents: balances[u.GetId()]})
	}
	return c.JSON(newList(items, resp.GetNextCursor()))
}

func (s *Server) adminGetUser(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	ur, err := s.d.Identity.GetUser(ctx, &identityv1.GetUserRequest{Id: id})
	if err != nil {
		return err
	}
	wr, err := s.d.Wallet.AdminGetWallets(ctx, &walletv1.AdminGetWalletsRequest{UserIds: []string{id}})
	if err != nil {
		return err
	}
	tr, err := s.d.Wallet.AdminListTransactions(ctx, &walletv1.AdminListTransactionsRequest{UserId: id, Limit: recentItems})
	if err != nil {
		return err
	}
	rr, err := s.d.Workflow.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{UserId: id, Limit: recentItems})
	if err != nil {
		return err
	}
	detail := adminUserDetailJSON{
		userJSON:           toUser(ur.GetUser()),
		Wallet:             walletJSON{Currency: ""},
		RecentTransactions: toTransactions(tr.GetTransactions(), false),
		RecentRuns:         toRuns(rr.GetRuns(), false),
	}
	for _, w := range wr.GetWallets() {
		if w.GetUserId() == id {
			detail.Wallet = toWallet(w)
		}
	}
	return c.JSON(detail)
}

type updateUserBody struct {
	IsActive *bool  `json:"is_active"`
	IsAdmin  *bool  `json:"is_admin"`
	Reason   string `json:"reason"`
}

func (s *Server) adminUpdateUser(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	var b updateUserBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Identity.AdminUpdateUser(ctx, &identityv1.AdminUpdateUserRequest{
		Id: id, IsActive: b.IsActive, IsAdmin: b.IsAdmin, Reason: b.Reason,
	})
	if err != nil {
		return err
	}
	return c.JSON(toUser(resp.GetUser()))
}

type adjustmentBody struct {
	AmountCents *int64 `json:"amount_cents"`
	Reason      string `json:"reason"`
}

func (s *Server) adminAdjust(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	if key == "" {
		// Required here (the contract): a retried or double-submitted
		// adjustment must never move money twice.
		return problem.Validation("Idempotency-Key is required for adjustments.",
			problem.FieldError{Field: "Idempotency-Key", Message: "required"})
	}
	var b adjustmentBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.AmountCents == nil || *b.AmountCents == 0 {
		return validationField("amount_cents", "required, non-zero")
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.AdminAdjustBalance(ctx, &walletv1.AdminAdjustBalanceRequest{
		UserId: id, AmountCents: *b.AmountCents, Reason: b.Reason, IdempotencyKey: key,
	})
	if err != nil {
		return problem.FromGRPC(err, problem.AdjustmentErrors)
	}
	return c.Status(http.StatusCreated).JSON(toTransaction(resp.GetTransaction(), false))
}

func (s *Server) adminListTransactions(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderAccept)
	csvOut, err := wantsCSV(c)
	if err != nil {
		return err
	}
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	userID, err := queryUUID(c, "user_id")
	if err != nil {
		return err
	}
	kind, err := oneOf(c, "kind", transactionKinds...)
	if err != nil {
		return err
	}
	q, err := queryText(c, "q", maxQueryBytes)
	if err != nil {
		return err
	}
	from, err := queryTime(c, "from")
	if err != nil {
		return err
	}
	to, err := queryTime(c, "to")
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return validationField("to", "must be after from")
	}
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*walletv1.Transaction, string, error) {
		req := &walletv1.AdminListTransactionsRequest{UserId: userID, Kind: kind, Query: q, Limit: limit, Cursor: cursor}
		if !from.IsZero() {
			req.CreatedFrom = timestamppb.New(from)
		}
		if !to.IsZero() {
			req.CreatedTo = timestamppb.New(to)
		}
		resp, err := s.d.Wallet.AdminListTransactions(ctx, req)
		return resp.GetTransactions(), resp.GetNextCursor(), err
	}
	if csvOut {
		return sendCSV(s, c, csvexport.Transactions(fetch), cursor)
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	txs, next, err := fetch(ctx, cursor, limit)
	if err != nil {
		return err
	}
	return c.JSON(newList(toTransactions(txs, true), next))
}

func (s *Server) adminListRuns(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderAccept)
	csvOut, err := wantsCSV(c)
	if err != nil {
		return err
	}
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	userID, err := queryUUID(c, "user_id")
	if err != nil {
		return err
	}
	status, err := oneOf(c, "status", runStatuses...)
	if err != nil {
		return err
	}
	workflow, err := queryText(c, "workflow", maxQueryBytes)
	if err != nil {
		return err
	}
	awaiting, err := oneOf(c, "awaiting_callback", "true", "false")
	if err != nil {
		return err
	}
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*workflowv1.Run, string, error) {
		resp, err := s.d.Workflow.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{
			UserId: userID, Workflow: workflow, Status: status, Limit: limit, Cursor: cursor,
			AwaitingCallback: awaiting == "true",
		})
		return resp.GetRuns(), resp.GetNextCursor(), err
	}
	if csvOut {
		return sendCSV(s, c, csvexport.Runs(fetch), cursor)
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	runs, next, err := fetch(ctx, cursor, limit)
	if err != nil {
		return err
	}
	return c.JSON(newList(toRuns(runs, true), next))
}

func (s *Server) adminListWorkflows(c *fiber.Ctx) error {
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Workflow.AdminListWorkflows(ctx, &workflowv1.AdminListWorkflowsRequest{})
	if err != nil {
		return err
	}
	items := make([]adminWorkflowJSON, 0, len(resp.GetWorkflows()))
	for _, w := range resp.GetWorkflows() {
		items = append(items, toAdminWorkflow(w))
	}
	return c.JSON(newList(items, ""))
}

type createWorkflowBody struct {
	Slug            string `json:"slug"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	WebhookURL      string `json:"webhook_url"`
	AuthHeaderName  string `json:"auth_header_name"`
	AuthHeaderValue string `json:"auth_header_value"`
	FeeCents        *int64 `json:"fee_cents"`
	TimeoutMS       *int64 `json:"timeout_ms"`
	Active          *bool  `json:"active"`
	// Completion is "response" (default) or "callback"; SigningSecret is
	// write-only (signing_configured).
	Completion        string `json:"completion"`
	CallbackTimeoutMS *int64 `json:"callback_timeout_ms"`
	SigningSecret     string `json:"signing_secret"`
}

func (s *Server) adminCreateWorkflow(c *fiber.Ctx) error {
	var b createWorkflowBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Workflow.AdminCreateWorkflow(ctx, &workflowv1.AdminCreateWorkflowRequest{
		Slug: b.Slug, Name: b.Name, Description: b.Description, WebhookUrl: b.WebhookURL,
		AuthHeaderName: b.AuthHeaderName, AuthHeaderValue: b.AuthHeaderValue,
		FeeCents: b.FeeCents, TimeoutMs: b.TimeoutMS, Active: b.Active,
		Completion: b.Completion, CallbackTimeoutMs: b.CallbackTimeoutMS, SigningSecret: b.SigningSecret,
	})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(toAdminWorkflow(resp.GetWorkflow()))
}

type updateWorkflowBody struct {
	Name            *string `json:"name"`
	Description     *string `json:"description"`
	WebhookURL      *string `json:"webhook_url"`
	AuthHeaderName  *string `json:"auth_header_name"`
	AuthHeaderValue *string `json:"auth_header_value"`
	FeeCents        *int64  `json:"fee_cents"`
	TimeoutMS       *int64  `json:"timeout_ms"`
	Active          *bool   `json:"active"`
	// SigningSecret "" clears the secret.
	Completion        *string `json:"completion"`
	CallbackTimeoutMS *int64  `json:"callback_timeout_ms"`
	SigningSecret     *string `json:"signing_secret"`
}

func (s *Server) adminUpdateWorkflow(c *fiber.Ctx) error {
	var b updateWorkflowBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Workflow.AdminUpdateWorkflow(ctx, &workflowv1.AdminUpdateWorkflowRequest{
		Slug: slugParam(c), Name: b.Name, Description: b.Description, WebhookUrl: b.WebhookURL,
		AuthHeaderName: b.AuthHeaderName, AuthHeaderValue: b.AuthHeaderValue,
		FeeCents: b.FeeCents, TimeoutMs: b.TimeoutMS, Active: b.Active,
		Completion: b.Completion, CallbackTimeoutMs: b.CallbackTimeoutMS, SigningSecret: b.SigningSecret,
	})
	if err != nil {
		return err
	}
	return c.JSON(toAdminWorkflow(resp.GetWorkflow()))
}
