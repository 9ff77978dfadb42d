package console

import (
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// overviewView holds the three panels; a nil panel failed and shows its
// error instead, so one slow or missing service does not blank the page.
type overviewView struct {
	Users    *identityv1.AdminGetUserStatsResponse
	UsersErr string
	Money    *walletv1.AdminGetStatsResponse
	MoneyErr string
	Runs     *workflowv1.AdminGetRunStatsResponse
	RunsErr  string
	RunTotal int64
}

func (c *Console) overview(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	var v overviewView
	var wg sync.WaitGroup
	wg.Go(func() {
		r, err := c.d.Identity.AdminGetUserStats(ctx, &identityv1.AdminGetUserStatsRequest{})
		if err != nil {
			c.log.WarnContext(ctx, "console: user stats unavailable", "err", err)
			v.UsersErr = problem.FromError(err).Detail
			return
		}
		v.Users = r
	})
	wg.Go(func() {
		r, err := c.d.Wallet.AdminGetStats(ctx, &walletv1.AdminGetStatsRequest{})
		if err != nil {
			c.log.WarnContext(ctx, "console: wallet stats unavailable", "err", err)
			v.MoneyErr = problem.FromError(err).Detail
			return
		}
		v.Money = r
	})
	wg.Go(func() {
		since := c.site.Now().Add(-24 * time.Hour)
		r, err := c.d.Workflow.AdminGetRunStats(ctx, &workflowv1.AdminGetRunStatsRequest{Since: timestamppb.New(since), TopFailing: 5})
		if err != nil {
			c.log.WarnContext(ctx, "console: run stats unavailable", "err", err)
			v.RunsErr = "Run statistics are unavailable right now."
			return
		}
		v.Runs = r
		for _, b := range r.GetByStatus() {
			v.RunTotal += b.GetCount()
		}
	})
	wg.Wait()
	if err := ctx.Err(); err != nil && v.Users == nil && v.Money == nil && v.Runs == nil {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "overview", "Overview", "overview", v)
}
