package dashboard

import (
	"context"
	"fmt"
	"html/template"
	"sync"

	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/gateway/internal/web/chart"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Element ids of the user's charts (chart.Chart.ID).
const (
	SpendChartID    = "chart-spend"
	UserRunsChartID = "chart-runs"
)

// SpendClient is the wallet call the user's spend chart needs
// (walletv1.WalletServiceClient has it).
type SpendClient interface {
	GetSpendByDay(ctx context.Context, in *walletv1.GetSpendByDayRequest, opts ...grpc.CallOption) (*walletv1.GetSpendByDayResponse, error)
}

// RunStatsClient is the workflow call the user's runs chart needs
// (workflowv1.WorkflowServiceClient has it).
type RunStatsClient interface {
	GetRunStats(ctx context.Context, in *workflowv1.GetRunStatsRequest, opts ...grpc.CallOption) (*workflowv1.GetRunStatsResponse, error)
}

// UserCharts are a user's two charts, ready for a template.
type UserCharts struct {
	// Spend is "Spend per day": the fees the user's runs cost per UTC day.
	Spend template.HTML
	// Runs is "Runs per day by outcome", stacked.
	Runs template.HTML
	// SpendCents and RunCounts are the totals the charts sum up, for a
	// page that also states them in words.
	SpendCents int64
	RunCounts  *workflowv1.RunCounts
}

// LoadUser asks the wallet and the workflow service, concurrently, for the
// statistics of the user whose access token ctx carries
// (web.Server.Call), for the last days UTC days (Days on the dashboard),
// and draws them. Either call's error is returned as it came (gRPC status),
// so web.Server.Fail maps it like any other.
func LoadUser(ctx context.Context, wallet SpendClient, workflow RunStatsClient, days int) (UserCharts, error) {
	var (
		spend      *walletv1.GetSpendByDayResponse
		runs       *workflowv1.GetRunStatsResponse
		errS, errR error
		wg         sync.WaitGroup
	)
	wg.Go(func() { spend, errS = wallet.GetSpendByDay(ctx, &walletv1.GetSpendByDayRequest{Days: int32(days)}) })
	wg.Go(func() { runs, errR = workflow.GetRunStats(ctx, &workflowv1.GetRunStatsRequest{Days: int32(days)}) })
	wg.Wait()
	if errS != nil {
		return UserCharts{}, errS
	}
	if errR != nil {
		return UserCharts{}, errR
	}
	return UserCharts{
		Spend: Spend(spend).HTML(), Runs: UserRuns(runs).HTML(),
		SpendCents: spend.GetTotalCents(), RunCounts: runs.GetTotal(),
	}, nil
}

// Spend is the user's chart of fees per UTC day.
func Spend(r *walletv1.GetSpendByDayResponse) chart.Chart {
	c := chart.Chart{ID: SpendChartID, Title: "Spend per day", Kind: chart.Grouped, Format: chart.Money,
		Series: []chart.Series{{Name: "Spend", Key: "spend", Color: chart.Blue}}}
	for _, d := range r.GetDays() {
		c.Bars = append(c.Bars, chart.Bar{Label: d.GetDate(), Tick: dayTick(d.GetDate()), Values: []int64{d.GetSpentCents()}})
	}
	first, last := "", ""
	if n := len(r.GetDays()); n > 0 {
		first, last = r.GetDays()[0].GetDate(), r.GetDays()[n-1].GetDate()
	}
	c.Desc = fmt.Sprintf("You spent %s on runs over %s (%s).", chart.Money(r.GetTotalCents()), count(len(c.Bars), "day", "days"), span(first, last))
	if i := busiestBar(c.Bars); i >= 0 {
		c.Desc += fmt.Sprintf(" The most was %s on %s.", chart.Money(c.Bars[i].Total()), c.Bars[i].Label)
	}
	return c
}

// UserRuns is the user's chart of runs per UTC day by outcome, stacked.
func UserRuns(r *workflowv1.GetRunStatsResponse) chart.Chart {
	c := chart.Chart{ID: UserRunsChartID, Title: "Runs per day by outcome", Kind: chart.Stacked, Series: chart.RunOutcomes}
	for _, d := range r.GetByDay() {
		c.Bars = append(c.Bars, chart.Bar{Label: d.GetDate(), Tick: dayTick(d.GetDate()), Values: countValues(d.GetRuns())})
	}
	first, last := "", ""
	if n := len(r.GetByDay()); n > 0 {
		first, last = r.GetByDay()[0].GetDate(), r.GetByDay()[n-1].GetDate()
	}
	total := r.GetTotal()
	if total == nil {
		total = &workflowv1.RunCounts{}
	}
	c.Desc = fmt.Sprintf("%s over %s (%s).", countsSentence(total), count(len(c.Bars), "day", "days"), span(first, last))
	return c
}
