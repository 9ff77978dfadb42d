package portal

import (
	"net/http"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/dashboard"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// recentRuns is how many runs the dashboard lists.
const recentRuns = 5

// dashboardView holds the dashboard's panels; a nil panel failed and
// shows its error instead, so one slow service does not blank the page.
type dashboardView struct {
	User      *identityv1.User
	Wallet    *walletv1.Wallet
	WalletErr string
	Runs      []*workflowv1.Run
	RunsErr   string
	Welcome   bool
	// Charts are the user's spend and runs of the last 30 days;
	// ChartsErr says why they are missing.
	Charts    *dashboard.UserCharts
	ChartsErr string
	// MustVerify: money and runs wait for the email (REQUIRE_VERIFIED_EMAIL).
	MustVerify bool
}

func (p *Portal) dashboard(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	v := dashboardView{Welcome: x.Query("welcome") != "", MustVerify: p.o.RequireVerifiedEmail}
	var userErr error
	var wg sync.WaitGroup
	wg.Go(func() { v.User, userErr = p.user(ctx) })
	wg.Go(func() {
		r, err := p.d.Wallet.GetWallet(ctx, &walletv1.GetWalletRequest{})
		if err != nil {
			p.log.WarnContext(ctx, "portal: wallet unavailable", "err", err)
			v.WalletErr = problem.FromError(err).Detail
			return
		}
		v.Wallet = r.GetWallet()
		p.learnCurrency(v.Wallet)
	})
	wg.Go(func() {
		r, err := p.d.Workflow.ListRuns(ctx, &workflowv1.ListRunsRequest{Limit: recentRuns})
		if err != nil {
			p.log.WarnContext(ctx, "portal: runs unavailable", "err", err)
			v.RunsErr = problem.FromError(err).Detail
			return
		}
		v.Runs = r.GetRuns()
	})
	wg.Go(func() {
		c, err := dashboard.LoadUser(ctx, p.d.Wallet, p.d.Workflow, dashboard.Days)
		if err != nil {
			p.log.WarnContext(ctx, "portal: statistics unavailable", "err", err)
			v.ChartsErr = problem.FromError(err).Detail
			return
		}
		v.Charts = &c
	})
	wg.Wait()
	if userErr != nil {
		return userErr
	}
	return p.render(x, s, http.StatusOK, "dashboard", "Dashboard", "dashboard", v)
}
