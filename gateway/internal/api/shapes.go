package api

import (
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// The public JSON shapes of the contract (shared/spec/api.md). Absent times
// and numbers are null, never zero values.

type userJSON struct {
	ID            string  `json:"id"`
	Email         string  `json:"email"`
	IsAdmin       bool    `json:"is_admin"`
	IsActive      bool    `json:"is_active"`
	EmailVerified bool    `json:"email_verified"`
	CreatedAt     *string `json:"created_at"`
}

type tokenPairJSON struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type"`
	ExpiresIn    int64     `json:"expires_in"`
	User         *userJSON `json:"user,omitempty"`
}

type walletJSON struct {
	BalanceCents   int64  `json:"balance_cents"`
	HeldCents      int64  `json:"held_cents"`
	AvailableCents int64  `json:"available_cents"`
	Currency       string `json:"currency"`
}

type referenceJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type transactionJSON struct {
	ID                string         `json:"id"`
	UserID            string         `json:"user_id,omitempty"`
	Kind              string         `json:"kind"`
	AmountCents       int64          `json:"amount_cents"`
	BalanceAfterCents int64          `json:"balance_after_cents"`
	Description       string         `json:"description"`
	Reference         *referenceJSON `json:"reference"`
	CreatedAt         *string        `json:"created_at"`
}

type topUpCreatedJSON struct {
	ID                string `json:"id"`
	CheckoutSessionID string `json:"checkout_session_id"`
	CheckoutURL       string `json:"checkout_url"`
	AmountCents       int64  `json:"amount_cents"`
	Status            string `json:"status"`
}

type topUpJSON struct {
	ID                string  `json:"id"`
	CheckoutSessionID string  `json:"checkout_session_id"`
	AmountCents       int64   `json:"amount_cents"`
	Status            string  `json:"status"`
	CreatedAt         *string `json:"created_at"`
}

type workflowJSON struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Description string `json:"description"`
	FeeCents    int64  `json:"fee_cents"`
}

type runJSON struct {
	ID           string          `json:"id"`
	UserID       string          `json:"user_id,omitempty"`
	Workflow     string          `json:"workflow"`
	Status       string          `json:"status"`
	FeeCents     int64           `json:"fee_cents"`
	ChargedCents int64           `json:"charged_cents"`
	Input        json.RawMessage `json:"input"`
	Output       json.RawMessage `json:"output"`
	Error        *string         `json:"error"`
	HTTPStatus   *int32          `json:"http_status"`
	StartedAt    *string         `json:"started_at"`
	FinishedAt   *string         `json:"finished_at"`
	DurationMS   *int64          `json:"duration_ms"`
	CreatedAt    *string         `json:"created_at"`
	// APIKeyID is the API key the run was started with; null for a login.
	APIKeyID *string `json:"api_key_id"`
	// What admins see besides (nil, left out, for users).
	*runAdminJSON
}

// runAdminJSON is what admin listings of runs add: the completion mode and,
// while a callback-mode run waits for its verdict, until when.
type runAdminJSON struct {
	Completion         string  `json:"completion"`
	AwaitingCallback   bool    `json:"awaiting_callback"`
	CallbackDeadlineAt *string `json:"callback_deadline_at"`
}

type adminWorkflowJSON struct {
	Slug           string  `json:"slug"`
	Name           string  `json:"name"`
	Description    string  `json:"description"`
	WebhookURL     string  `json:"webhook_url"`
	AuthHeaderName *string `json:"auth_header_name"`
	AuthConfigured bool    `json:"auth_configured"`
	FeeCents       int64   `json:"fee_cents"`
	TimeoutMS      int64   `json:"timeout_ms"`
	Active         bool    `json:"active"`
	// Completion is "response" or "callback"; CallbackTimeoutMS the verdict
	// window; SigningConfigured stands for the write-only signing secret.
	Completion        string  `json:"completion"`
	CallbackTimeoutMS int64   `json:"callback_timeout_ms"`
	SigningConfigured bool    `json:"signing_configured"`
	CreatedAt         *string `json:"created_at"`
}

type adminUserJSON struct {
	userJSON
	BalanceCents int64 `json:"balance_cents"`
}

type adminUserDetailJSON struct {
	userJSON
	Wallet             walletJSON        `json:"wallet"`
	RecentTransactions []transactionJSON `json:"recent_transactions"`
	RecentRuns         []runJSON         `json:"recent_runs"`
}

type listJSON[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func newList[T any](items []T, next string) listJSON[T] {
	if items == nil {
		items = []T{}
	}
	l := listJSON[T]{Items: items}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

func timeJSON(ts *timestamppb.Timestamp) *string {
	if ts == nil {
		return nil
	}
	s := ts.AsTime().UTC().Format(time.RFC3339)
	return &s
}

func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		if len(b) == 0 {
			return json.RawMessage("null")
		}
		// A service bug; never emit broken JSON: pass it on as a string.
		s, _ := json.Marshal(string(b))
		return s
	}
	return json.RawMessage(b)
}

func toUser(u *identityv1.User) userJSON {
	return userJSON{
		ID: u.GetId(), Email: u.GetEmail(), IsAdmin: u.GetIsAdmin(), IsActive: u.GetIsActive(),
		EmailVerified: u.GetEmailVerified(), CreatedAt: timeJSON(u.GetCreatedAt()),
	}
}

func toTokenPair(t *identityv1.TokenPair, u *identityv1.User) tokenPairJSON {
	p := tokenPairJSON{
		AccessToken: t.GetAccessToken(), RefreshToken: t.GetRefreshToken(),
		TokenType: "Bearer", ExpiresIn: t.GetExpiresIn(),
	}
	if u != nil {
		uj := toUser(u)
		p.User = &uj
	}
	return p
}

func toWallet(w *walletv1.Wallet) walletJSON {
	return walletJSON{
		BalanceCents: w.GetBalanceCents(), HeldCents: w.GetHeldCents(),
		AvailableCents: w.GetAvailableCents(), Currency: w.GetCurrency(),
	}
}

func toTransaction(t *walletv1.Transaction, withUser bool) transactionJSON {
	tj := transactionJSON{
		ID: t.GetId(), Kind: t.GetKind(), AmountCents: t.GetAmountCents(),
		BalanceAfterCents: t.GetBalanceAfterCents(), Description: t.GetDescription(),
		CreatedAt: timeJSON(t.GetCreatedAt()),
	}
	if t.GetReferenceType() != "" || t.GetReferenceId() != "" {
		tj.Reference = &referenceJSON{Type: t.GetReferenceType(), ID: t.GetReferenceId()}
	}
	if withUser {
		tj.UserID = t.GetUserId()
	}
	return tj
}

func toTransactions(ts []*walletv1.Transaction, withUser bool) []transactionJSON {
	out := make([]transactionJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, toTransaction(t, withUser))
	}
	return out
}

func toWorkflow(w *workflowv1.Workflow) workflowJSON {
	return workflowJSON{Slug: w.GetSlug(), Name: w.GetName(), Description: w.GetDescription(), FeeCents: w.GetFeeCents()}
}

// toRun shapes a run. Lists of runs leave an input or output over 4 KiB
// out (empty bytes, shown as null); GET /v1/runs/{id} always has them.
func toRun(r *workflowv1.Run, withUser bool) runJSON {
	rj := runJSON{
		ID: r.GetId(), Workflow: r.GetWorkflow(), Status: r.GetStatus(),
		FeeCents: r.GetFeeCents(), ChargedCents: r.GetChargedCents(),
		Input: rawOrNull(r.GetInputJson()), Output: rawOrNull(r.GetOutputJson()),
		Error: strOrNull(r.GetError()), StartedAt: timeJSON(r.GetStartedAt()),
		FinishedAt: timeJSON(r.GetFinishedAt()), CreatedAt: timeJSON(r.GetCreatedAt()),
		APIKeyID: strOrNull(r.GetApiKeyId()),
	}
	if s := r.GetHttpStatus(); s != 0 {
		rj.HTTPStatus = &s
	}
	if r.DurationMs != nil {
		d := r.GetDurationMs()
		rj.DurationMS = &d
	}
	if withUser {
		rj.UserID = r.GetUserId()
		rj.runAdminJSON = &runAdminJSON{
			Completion: r.GetCompletion(), AwaitingCallback: r.GetAwaitingCallback(),
			CallbackDeadlineAt: timeJSON(r.GetCallbackDeadlineAt()),
		}
	}
	return rj
}

func toRuns(rs []*workflowv1.Run, withUser bool) []runJSON {
	out := make([]runJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, toRun(r, withUser))
	}
	return out
}

func toAdminWorkflow(w *workflowv1.AdminWorkflow) adminWorkflowJSON {
	return adminWorkflowJSON{
		Slug: w.GetSlug(), Name: w.GetName(), Description: w.GetDescription(), WebhookURL: w.GetWebhookUrl(),
		AuthHeaderName: strOrNull(w.GetAuthHeaderName()), AuthConfigured: w.GetAuthConfigured(),
		FeeCents: w.GetFeeCents(), TimeoutMS: w.GetTimeoutMs(), Active: w.GetActive(),
		Completion: w.GetCompletion(), CallbackTimeoutMS: w.GetCallbackTimeoutMs(), SigningConfigured: w.GetSigningConfigured(),
		CreatedAt: timeJSON(w.GetCreatedAt()),
	}
}
