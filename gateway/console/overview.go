package console

import (
	"html/template"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/dashboard"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// overviewView holds the panels; a nil panel failed and shows its error
// instead, so one slow or missing service does not blank the page.
type overviewView struct {
	Users    *identityv1.AdminGetUserStatsResponse
	UsersErr string
	Money    *walletv1.AdminGetStatsResponse
	MoneyErr string
	Runs     *workflowv1.AdminGetRunStatsResponse
	RunsErr  string
	RunTotal int64
	// The charts of the last 30 days (internal/dashboard): deposits and
	// fees per day come with Money; runs per hour and the busiest
	// workflows with Trend, or TrendErr.
	MoneyChart, HourlyChart, BusiestChart template.HTML
	Trend                                 bool
	TrendErr                              string
}

// busiestShown is how many workflows the overview's ranking shows.
const busiestShown = 10

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
		r, err := c.d.Wallet.AdminGetStats(ctx, &walletv1.AdminGetStatsRequest{Days: dashboard.Days})
		if err != nil {
			c.log.WarnContext(ctx, "console: wallet stats unavailable", "err", err)
			v.MoneyErr = problem.FromError(err).Detail
			return
		}
		v.Money = r
		v.MoneyChart = dashboard.Money(r).HTML()
	})
	wg.Go(func() {
		r, err := c.d.Workflow.AdminGetRunStats(ctx, &workflowv1.AdminGetRunStatsRequest{
			Since: timestamppb.New(dashboard.HourlySince(c.site.Now())), ByHour: true, Busiest: busiestShown,
		})
		if err != nil {
			c.log.WarnContext(ctx, "console: run trends unavailable", "err", err)
			v.TrendErr = "Run charts are unavailable right now."
			return
		}
		v.Trend = true
		v.HourlyChart = dashboard.RunsByHour(r).HTML()
		v.BusiestChart = dashboard.Busiest(r).HTML()
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
	if err := ctx.Err(); err != nil && v.Users == nil && v.Money == nil && v.Runs == nil && !v.Trend {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "overview", "Overview", "overview", v)
}
