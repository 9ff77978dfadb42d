package console

import (
	"context"
	"net/url"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/errgroup"

	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// Wallet automation in the console: a user's saved card (brand and last
// four digits only), auto top-up state and history and disputes on the
// user's page; the open disputes; the accounts in debt (the users page's
// "In debt" filter).

type disputeRow struct {
	Dispute *walletv1.Dispute
	Email   string
}

type disputesView struct {
	All    bool
	Rows   []disputeRow
	Next   string
	Paged  bool
	Filter url.Values
}

func (c *Console) disputes(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	all := x.Query("status") == "all"
	cursor := x.Query("cursor")
	resp, err := c.d.Wallet.AdminListDisputes(ctx, &walletv1.AdminListDisputesRequest{OpenOnly: !all, Limit: pageSize, Cursor: cursor})
	if err != nil {
		return err
	}
	v := disputesView{All: all, Next: resp.GetNextCursor(), Paged: cursor != "", Filter: url.Values{}}
	if all {
		v.Filter.Set("status", "all")
	}
	ids := make([]string, 0, len(resp.GetDisputes()))
	for _, d := range resp.GetDisputes() {
		ids = append(ids, d.GetUserId())
	}
	emails := c.emailsOf(ctx, ids)
	for _, d := range resp.GetDisputes() {
		v.Rows = append(v.Rows, disputeRow{Dispute: d, Email: emails[d.GetUserId()]})
	}
	return c.render(x, s, fiber.StatusOK, "disputes", "Disputes", "disputes", v)
}

type debtRow struct {
	Debt  *walletv1.Debt
	Email string
}

type debtsView struct {
	Rows   []debtRow
	Next   string
	Paged  bool
	Filter url.Values
}

// debts is the users page with the "In debt" filter: accounts a
// chargeback took below zero, most recently flagged first.
func (c *Console) debts(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	cursor := x.Query("cursor")
	resp, err := c.d.Wallet.AdminListDebts(ctx, &walletv1.AdminListDebtsRequest{Limit: pageSize, Cursor: cursor})
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(resp.GetDebts()))
	for _, d := range resp.GetDebts() {
		ids = append(ids, d.GetUserId())
	}
	emails := c.emailsOf(ctx, ids)
	v := debtsView{Next: resp.GetNextCursor(), Paged: cursor != "", Filter: url.Values{"filter": {"debt"}}}
	for _, d := range resp.GetDebts() {
		v.Rows = append(v.Rows, debtRow{Debt: d, Email: emails[d.GetUserId()]})
	}
	return c.render(x, s, fiber.StatusOK, "debts", "Accounts in debt", "users", v)
}

// emailsOf looks up the emails of at most a page of users; one that cannot
// be read is shown by its id.
func (c *Console) emailsOf(ctx context.Context, ids []string) map[string]string {
	out := make(map[string]string, len(ids))
	results := make([]string, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			if r, err := c.d.Identity.GetUser(gctx, &identityv1.GetUserRequest{Id: id}); err == nil {
				results[i] = r.GetUser().GetEmail()
			}
			return nil
		})
	}
	_ = g.Wait()
	for i, id := range ids {
		out[id] = results[i]
	}
	return out
}
