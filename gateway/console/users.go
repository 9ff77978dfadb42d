package console

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// pageSize is how many rows a listing page shows.
const pageSize = 50

// recent is how many transactions, runs and audit events a user's page shows.
const recent = 10

// maxReason bounds reasons to what every service accepts (the wallet's 500).
const maxReason = 500

// userRow is one line of the users table.
type userRow struct {
	User    *identityv1.User
	Balance int64
}

type usersView struct {
	Query  string
	Rows   []userRow
	Next   string
	Paged  bool
	Filter url.Values
}

func (c *Console) users(x *fiber.Ctx, s *web.Session) error {
	if x.Query("filter") == "debt" {
		return c.debts(x, s)
	}
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	q := strings.TrimSpace(x.Query("q"))
	cursor := x.Query("cursor")
	resp, err := c.d.Identity.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{Query: q, Limit: pageSize, Cursor: cursor})
	if err != nil {
		return err
	}
	v := usersView{Query: q, Next: resp.GetNextCursor(), Paged: cursor != "", Filter: url.Values{}}
	if q != "" {
		v.Filter.Set("q", q)
	}
	balances, err := c.balances(ctx, resp.GetUsers())
	if err != nil {
		return err
	}
	for _, u := range resp.GetUsers() {
		v.Rows = append(v.Rows, userRow{User: u, Balance: balances[u.GetId()]})
	}
	return c.render(x, s, fiber.StatusOK, "users", "Users", "users", v)
}

// balances returns the balance of each user's wallet (zero without one).
func (c *Console) balances(ctx context.Context, users []*identityv1.User) (map[string]int64, error) {
	out := map[string]int64{}
	if len(users) == 0 {
		return out, nil
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.GetId()
	}
	resp, err := c.d.Wallet.AdminGetWallets(ctx, &walletv1.AdminGetWalletsRequest{UserIds: ids})
	if err != nil {
		return nil, err
	}
	for _, w := range resp.GetWallets() {
		out[w.GetUserId()] = w.GetBalanceCents()
	}
	return out, nil
}

type userView struct {
	User   *identityv1.User
	Wallet *walletv1.Wallet
	// Auto is the user's wallet automation: card, auto top-up, disputes.
	Auto  *walletv1.AdminGetAutomationResponse
	Txs   []*walletv1.Transaction
	Runs  []*workflowv1.Run
	Audit []auditRow
	// Endpoints and Deliveries are the user's webhook endpoints and their
	// recent deliveries (Hooks: the console has the notify client).
	Hooks      bool
	Endpoints  []*notifyv1.WebhookEndpoint
	Deliveries []*notifyv1.Delivery
	Self       bool
	// Amount and Reason refill the adjustment form after an error.
	Amount, Reason, Error string
}

// loadUser gathers everything the user's page shows.
func (c *Console) loadUser(ctx context.Context, id string, s *web.Session) (*userView, error) {
	if uuid.Validate(id) != nil {
		return nil, web.ErrNotFound
	}
	v := &userView{Self: id == s.UserID}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		r, err := c.d.Identity.GetUser(gctx, &identityv1.GetUserRequest{Id: id})
		v.User = r.GetUser()
		return err
	})
	g.Go(func() error {
		r, err := c.d.Wallet.AdminGetWallets(gctx, &walletv1.AdminGetWalletsRequest{UserIds: []string{id}})
		if err == nil && len(r.GetWallets()) > 0 {
			v.Wallet = r.GetWallets()[0]
		}
		return err
	})
	g.Go(func() error {
		r, err := c.d.Wallet.AdminGetAutomation(gctx, &walletv1.AdminGetAutomationRequest{UserId: id})
		v.Auto = r
		return err
	})
	g.Go(func() error {
		r, err := c.d.Wallet.AdminListTransactions(gctx, &walletv1.AdminListTransactionsRequest{UserId: id, Limit: recent})
		v.Txs = r.GetTransactions()
		return err
	})
	g.Go(func() error {
		r, err := c.d.Workflow.AdminListRuns(gctx, &workflowv1.AdminListRunsRequest{UserId: id, Limit: recent})
		v.Runs = r.GetRuns()
		return err
	})
	if c.d.Webhooks != nil {
		v.Hooks = true
		g.Go(func() error {
			r, err := c.d.Webhooks.AdminListEndpoints(gctx, &notifyv1.AdminListEndpointsRequest{UserId: id})
			v.Endpoints = r.GetEndpoints()
			return err
		})
		g.Go(func() error {
			r, err := c.d.Webhooks.AdminListDeliveries(gctx, &notifyv1.AdminListDeliveriesRequest{UserId: id, Limit: recent})
			v.Deliveries = r.GetDeliveries()
			return err
		})
	}
	g.Go(func() error {
		rows, _, err := c.auditPage(gctx, id, "all", "", recent)
		c.actorEmails(gctx, rows)
		v.Audit = rows
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if v.Wallet == nil {
		v.Wallet = &walletv1.Wallet{UserId: id}
	}
	return v, nil
}

func (c *Console) user(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	v, err := c.loadUser(ctx, x.Params("id"), s)
	if err != nil {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "user", v.User.GetEmail(), "users", v)
}

// flagAction is one of the account changes of the user's page.
type flagAction struct {
	Name, Label, Verb, Warning string
	IsActive, IsAdmin          *bool
}

func flagActionFor(name string) (flagAction, bool) {
	t, f := true, false
	switch name {
	case "disable":
		return flagAction{Name: name, Label: "Disable account", Verb: "Disable", IsActive: &f,
			Warning: "The user can no longer sign in and every login they have ends now. Their access token stays valid for up to 15 minutes."}, true
	case "enable":
		return flagAction{Name: name, Label: "Enable account", Verb: "Enable", IsActive: &t, Warning: "The user can sign in again."}, true
	case "promote":
		return flagAction{Name: name, Label: "Make admin", Verb: "Make admin", IsAdmin: &t,
			Warning: "The user gets full access to this console and to every admin API: balances, accounts and workflows."}, true
	case "demote":
		return flagAction{Name: name, Label: "Remove admin role", Verb: "Remove admin", IsAdmin: &f,
			Warning: "The user loses admin access at their next sign-in or token refresh (at most 15 minutes)."}, true
	}
	return flagAction{}, false
}

type flagsView struct {
	User   *identityv1.User
	Action flagAction
	Reason string
	Error  string
}

func (c *Console) flagsConfirm(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	a, ok := flagActionFor(x.FormValue("action"))
	if !ok {
		return web.BadRequest("Unknown action.")
	}
	u, err := c.getUser(ctx, x.Params("id"))
	if err != nil {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "confirm_flags", a.Label, "users", flagsView{User: u, Action: a})
}

func (c *Console) getUser(ctx context.Context, id string) (*identityv1.User, error) {
	if uuid.Validate(id) != nil {
		return nil, web.ErrNotFound
	}
	r, err := c.d.Identity.GetUser(ctx, &identityv1.GetUserRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return r.GetUser(), nil
}

// checkReason returns what is wrong with a reason, or "".
func checkReason(r string) string {
	switch {
	case r == "":
		return "Give a reason: it is kept in the audit log."
	case utf8.RuneCountInString(r) > maxReason:
		return "The reason is too long (at most 500 characters)."
	}
	return ""
}

func (c *Console) flagsApply(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	a, ok := flagActionFor(x.FormValue("action"))
	if !ok {
		return web.BadRequest("Unknown action.")
	}
	reason := strings.TrimSpace(x.FormValue("reason"))
	if msg := checkReason(reason); msg != "" {
		u, err := c.getUser(ctx, x.Params("id"))
		if err != nil {
			return err
		}
		return c.render(x, s, fiber.StatusBadRequest, "confirm_flags", a.Label, "users", flagsView{User: u, Action: a, Reason: reason, Error: msg})
	}
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return web.ErrNotFound
	}
	r, err := c.d.Identity.AdminUpdateUser(ctx, &identityv1.AdminUpdateUserRequest{Id: id, IsActive: a.IsActive, IsAdmin: a.IsAdmin, Reason: reason})
	if err != nil {
		return err
	}
	return c.site.FlashRedirect(x, s, a.Verb+": done for "+r.GetUser().GetEmail()+".", c.site.Base()+"/users/"+id)
}

// adjustView is the confirmation step of a balance adjustment.
type adjustView struct {
	User        *identityv1.User
	Wallet      *walletv1.Wallet
	AmountCents int64
	Reason      string
	Key         string
	After       int64
	// Refused explains why the adjustment cannot be confirmed.
	Refused string
}

func (c *Console) adjustConfirm(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	id := x.Params("id")
	amountText := strings.TrimSpace(x.FormValue("amount"))
	reason := strings.TrimSpace(x.FormValue("reason"))
	amount, err := money.Parse(amountText)
	msg := ""
	switch {
	case err != nil:
		msg = "Amount: " + err.Error() + "."
	case amount == 0:
		msg = "Amount: must not be zero."
	default:
		msg = checkReason(reason)
	}
	if msg != "" {
		v, err := c.loadUser(ctx, id, s)
		if err != nil {
			return err
		}
		v.Amount, v.Reason, v.Error = amountText, reason, msg
		return c.render(x, s, fiber.StatusBadRequest, "user", v.User.GetEmail(), "users", v)
	}
	u, err := c.getUser(ctx, id)
	if err != nil {
		return err
	}
	wr, err := c.d.Wallet.AdminGetWallets(ctx, &walletv1.AdminGetWalletsRequest{UserIds: []string{id}})
	if err != nil {
		return err
	}
	w := &walletv1.Wallet{UserId: id}
	if len(wr.GetWallets()) > 0 {
		w = wr.GetWallets()[0]
	}
	// A fresh key per confirmation page: submitting this page twice (a
	// double click, a resent form) books the adjustment once.
	v := adjustView{User: u, Wallet: w, AmountCents: amount, Reason: reason, Key: uuid.NewString(), After: w.GetBalanceCents() + amount}
	if amount < 0 && -amount > w.GetAvailableCents() {
		v.Refused = "This debit is larger than the available balance (" + money.Format(w.GetAvailableCents()) + "); the wallet would refuse it."
	}
	return c.render(x, s, fiber.StatusOK, "confirm_adjust", "Confirm adjustment", "users", v)
}

func (c *Console) adjustApply(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return web.ErrNotFound
	}
	amount, err := strconv.ParseInt(x.FormValue("amount_cents"), 10, 64)
	if err != nil || amount == 0 || amount > money.MaxFormCents || amount < -money.MaxFormCents {
		return web.BadRequest("The amount is missing or not valid. Start the adjustment again from the user's page.")
	}
	reason := strings.TrimSpace(x.FormValue("reason"))
	key := x.FormValue("key")
	if msg := checkReason(reason); msg != "" {
		return web.BadRequest(msg)
	}
	if uuid.Validate(key) != nil {
		return web.BadRequest("The confirmation is incomplete. Start the adjustment again from the user's page.")
	}
	r, err := c.d.Wallet.AdminAdjustBalance(ctx, &walletv1.AdminAdjustBalanceRequest{UserId: id, AmountCents: amount, Reason: reason, IdempotencyKey: key})
	if err != nil {
		// As the admin API answers it: a debit beyond the balance is 422.
		return problem.FromGRPC(err, problem.AdjustmentErrors)
	}
	tx := r.GetTransaction()
	return c.site.FlashRedirect(x, s, "Balance adjusted by "+money.Signed(tx.GetAmountCents())+". New balance: "+money.Format(tx.GetBalanceAfterCents())+".", c.site.Base()+"/users/"+id)
}
