package dashboard

import (
	"fmt"
	"time"

	"github.com/meterflow/meterflow/gateway/internal/web/chart"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Element ids of the overview's charts (chart.Chart.ID), which tests read
// with chart.Read.
const (
	MoneyChartID   = "chart-money"
	HourlyChartID  = "chart-runs-hourly"
	BusiestChartID = "chart-busiest"
)

// MoneySeries are the money chart's series: deposits credited and fees
// collected per UTC day.
var MoneySeries = []chart.Series{
	{Name: "Deposits", Key: "deposits", Color: chart.Blue},
	{Name: "Fees", Key: "fees", Color: chart.Amber},
}

// Money is the revenue chart of the overview: deposits and fees per UTC
// day, side by side (AdminGetStats with days).
func Money(r *walletv1.AdminGetStatsResponse) chart.Chart {
	c := chart.Chart{ID: MoneyChartID, Title: "Deposits and fees per day", Kind: chart.Grouped, Series: MoneySeries, Format: chart.Money}
	var deposits, fees int64
	for _, d := range r.GetByDay() {
		c.Bars = append(c.Bars, chart.Bar{Label: d.GetDate(), Tick: dayTick(d.GetDate()), Values: []int64{d.GetDepositsCents(), d.GetFeesCents()}})
		deposits += d.GetDepositsCents()
		fees += d.GetFeesCents()
	}
	first, last := "", ""
	if n := len(r.GetByDay()); n > 0 {
		first, last = r.GetByDay()[0].GetDate(), r.GetByDay()[n-1].GetDate()
	}
	c.Desc = fmt.Sprintf("Deposits %s and fees %s over %s (%s).", chart.Money(deposits), chart.Money(fees), count(len(c.Bars), "day", "days"), span(first, last))
	return c
}

// RunsByHour is the overview's chart of runs per UTC hour by outcome,
// stacked (AdminGetRunStats with by_hour). Midnights are labelled once a
// week, counted back from today.
func RunsByHour(r *workflowv1.AdminGetRunStatsResponse) chart.Chart {
	c := chart.Chart{ID: HourlyChartID, Title: "Runs per hour by outcome", Kind: chart.Stacked, Series: chart.RunOutcomes, TableSkipsZero: true, MarkedTicks: true}
	hours := r.GetByHour()
	var last time.Time
	if len(hours) > 0 {
		last = hours[len(hours)-1].GetHour().AsTime().UTC().Truncate(24 * time.Hour)
	}
	var total workflowv1.RunCounts
	for _, h := range hours {
		at := h.GetHour().AsTime().UTC()
		bar := chart.Bar{Label: at.Format("2006-01-02 15:04 UTC"), Values: countValues(h.GetRuns())}
		if at.Hour() == 0 && int(last.Sub(at).Hours()/24)%7 == 0 {
			bar.Tick = at.Format("Jan 2")
		}
		c.Bars = append(c.Bars, bar)
		addCounts(&total, h.GetRuns())
	}
	c.Desc = fmt.Sprintf("%s over %s.", countsSentence(&total), count(len(hours), "hour", "hours"))
	if i := busiestBar(c.Bars); i >= 0 {
		c.Desc += fmt.Sprintf(" The busiest hour was %s with %s.", c.Bars[i].Label, count(c.Bars[i].Total(), "run", "runs"))
	}
	return c
}

// Busiest is the overview's ranking of the workflows with the most runs,
// each bar stacked by outcome (AdminGetRunStats with busiest).
func Busiest(r *workflowv1.AdminGetRunStatsResponse) chart.Chart {
	c := chart.Chart{ID: BusiestChartID, Title: "Busiest workflows", Kind: chart.Horizontal, Series: chart.RunOutcomes}
	for _, w := range r.GetBusiest() {
		c.Bars = append(c.Bars, chart.Bar{Label: w.GetWorkflow(), Values: countValues(w.GetRuns())})
	}
	switch len(c.Bars) {
	case 0:
		c.Desc = "No workflow ran in this window."
	default:
		c.Desc = fmt.Sprintf("The %s with the most runs, most first: %s with %s leads.",
			count(len(c.Bars), "workflow", "workflows"), c.Bars[0].Label, count(c.Bars[0].Total(), "run", "runs"))
	}
	return c
}

// countValues is a RunCounts in the order of chart.RunOutcomes.
func countValues(c *workflowv1.RunCounts) []int64 {
	return []int64{c.GetQueued(), c.GetRunning(), c.GetSucceeded(), c.GetFailed()}
}

func addCounts(sum *workflowv1.RunCounts, c *workflowv1.RunCounts) {
	sum.Queued += c.GetQueued()
	sum.Running += c.GetRunning()
	sum.Succeeded += c.GetSucceeded()
	sum.Failed += c.GetFailed()
}

// countsSentence words run counts: "12 runs: 9 succeeded, 2 failed, 1
// running, 0 queued".
func countsSentence(c *workflowv1.RunCounts) string {
	total := c.GetQueued() + c.GetRunning() + c.GetSucceeded() + c.GetFailed()
	return fmt.Sprintf("%s: %s succeeded, %s failed, %s running, %s queued",
		count(total, "run", "runs"), chart.Count(c.GetSucceeded()), chart.Count(c.GetFailed()), chart.Count(c.GetRunning()), chart.Count(c.GetQueued()))
}
