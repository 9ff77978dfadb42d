package dashboard

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/web/chart"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

func TestCharts(t *testing.T) {
	t.Parallel()
	h0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) // a midnight 7 days before the last hour's day
	hours := []*workflowv1.RunHour{
		{Hour: timestamppb.New(h0), Runs: &workflowv1.RunCounts{Succeeded: 2}},
		{Hour: timestamppb.New(h0.Add(time.Hour)), Runs: &workflowv1.RunCounts{}},
		{Hour: timestamppb.New(h0.Add(7*24*time.Hour + 13*time.Hour)), Runs: &workflowv1.RunCounts{Queued: 1, Running: 2, Succeeded: 30, Failed: 4}},
	}
	for _, tc := range []struct {
		name string
		c    chart.Chart
		id   string
		bars []chart.Bar
		desc []string
	}{
		{
			name: "money", id: MoneyChartID,
			c: Money(&walletv1.AdminGetStatsResponse{ByDay: []*walletv1.MoneyDay{
				{Date: "2026-12-06"}, {Date: "2026-12-07", DepositsCents: 150000, FeesCents: 125},
			}}),
			bars: []chart.Bar{{Label: "2026-12-06", Values: []int64{0, 0}}, {Label: "2026-12-07", Values: []int64{150000, 125}}},
			desc: []string{"Deposits $1,500.00 and fees $1.25 over 2 days (Dec 6 to Dec 7, UTC)."},
		},
		{
			name: "runs per hour", id: HourlyChartID,
			c: RunsByHour(&workflowv1.AdminGetRunStatsResponse{ByHour: hours}),
			bars: []chart.Bar{
				{Label: "2026-11-30 00:00 UTC", Values: []int64{0, 0, 2, 0}},
				{Label: "2026-11-30 01:00 UTC", Values: []int64{0, 0, 0, 0}},
				{Label: "2026-12-07 13:00 UTC", Values: []int64{1, 2, 30, 4}},
			},
			desc: []string{"39 runs: 32 succeeded, 4 failed, 2 running, 1 queued over 3 hours.", "The busiest hour was 2026-12-07 13:00 UTC with 37 runs."},
		},
		{
			name: "busiest", id: BusiestChartID,
			c: Busiest(&workflowv1.AdminGetRunStatsResponse{Busiest: []*workflowv1.WorkflowRuns{
				{Workflow: "resize", Total: 12, Runs: &workflowv1.RunCounts{Succeeded: 10, Failed: 2}},
				{Workflow: "ocr", Total: 3, Runs: &workflowv1.RunCounts{Running: 3}},
			}}),
			bars: []chart.Bar{{Label: "resize", Values: []int64{0, 0, 10, 2}}, {Label: "ocr", Values: []int64{0, 3, 0, 0}}},
			desc: []string{"The 2 workflows with the most runs, most first: resize with 12 runs leads."},
		},
		{
			name: "nobody ran", id: BusiestChartID,
			c:    Busiest(&workflowv1.AdminGetRunStatsResponse{}),
			desc: []string{"No workflow ran in this window."},
		},
		{
			name: "spend", id: SpendChartID,
			c: Spend(&walletv1.GetSpendByDayResponse{TotalCents: 35, Days: []*walletv1.SpendDay{
				{Date: "2026-12-06", SpentCents: 10}, {Date: "2026-12-07", SpentCents: 25},
			}}),
			bars: []chart.Bar{{Label: "2026-12-06", Values: []int64{10}}, {Label: "2026-12-07", Values: []int64{25}}},
			desc: []string{"You spent $0.35 on runs over 2 days (Dec 6 to Dec 7, UTC).", "The most was $0.25 on 2026-12-07."},
		},
		{
			name: "user runs", id: UserRunsChartID,
			c: UserRuns(&workflowv1.GetRunStatsResponse{
				ByDay: []*workflowv1.RunDay{{Date: "2026-12-07", Runs: &workflowv1.RunCounts{Succeeded: 3, Failed: 1}}},
				Total: &workflowv1.RunCounts{Succeeded: 3, Failed: 1},
			}),
			bars: []chart.Bar{{Label: "2026-12-07", Values: []int64{0, 0, 3, 1}}},
			desc: []string{"4 runs: 3 succeeded, 1 failed, 0 running, 0 queued over 1 day (Dec 7 to Dec 7, UTC)."},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, d := range tc.desc {
				if !strings.Contains(tc.c.Desc, d) {
					t.Errorf("desc %q lacks %q", tc.c.Desc, d)
				}
			}
			got, err := chart.Read([]byte(tc.c.HTML()), tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Bars) != len(tc.bars) {
				t.Fatalf("%d bars, want %d", len(got.Bars), len(tc.bars))
			}
			for i, b := range tc.bars {
				if got.Bars[i].Label != b.Label || !slices.Equal(got.Bars[i].Values, b.Values) {
					t.Errorf("bar %d = %+v, want %+v", i, got.Bars[i], b)
				}
			}
		})
	}
	// Midnights a whole number of weeks before the last day are labelled.
	hourly := string(RunsByHour(&workflowv1.AdminGetRunStatsResponse{ByHour: hours}).HTML())
	if !strings.Contains(hourly, ">Nov 30</text>") || strings.Contains(hourly, ">Dec 7</text>") {
		t.Errorf("hourly ticks: %s", hourly)
	}
}

func TestHourlySince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 9, 41, 12, 0, time.FixedZone("CET", 3600))
	want := time.Date(2026, 11, 7, 9, 0, 0, 0, time.UTC) // 08:00 UTC, 719 hours (29 days 23 hours) before
	if got := HourlySince(now); !got.Equal(want) {
		t.Fatalf("HourlySince = %v, want %v", got, want)
	}
}
