// Package dashboard turns the services' statistics into the charts of the
// gateway's pages (internal/web/chart): the admin console's overview
// (deposits and fees per day, runs per hour by outcome, the busiest
// workflows) and a signed-in user's own (spend per day, runs per day by
// outcome). It only maps numbers to bars and writes the summaries; the
// services compute the numbers in SQL, every UTC day or hour present.
//
// The user's charts, for the portal's dashboard:
//
//	// in a handler wrapped in web.Server.Page, with the user's session s:
//	ctx, cancel := site.Call(x, s) // carries the user's access token
//	defer cancel()
//	charts, err := dashboard.LoadUser(ctx, walletClient, workflowClient, dashboard.Days)
//	if err != nil {
//		return err // web.Server.Fail shows the gateway's error page
//	}
//	// charts.Spend and charts.Runs are template.HTML: {{.Spend}} {{.Runs}}
//
// The wallet and workflow clients are the gateway's, dialed with its
// service credentials; the services answer with the token's own user's
// data only (GetSpendByDay, GetRunStats), so no user id is passed.
package dashboard

import (
	"fmt"
	"time"

	"github.com/meterflow/meterflow/gateway/internal/web/chart"
)

// Days is the length of the charts' daily series: the last 30 UTC days,
// today included.
const Days = 30

// Hours is the length of the admin's hourly series: the last 720 UTC
// hours, this one included.
const Hours = Days * 24

// HourlySince is where the admin's hourly series starts: the start of the
// UTC hour Hours-1 hours before now's (AdminGetRunStatsRequest.since).
func HourlySince(now time.Time) time.Time {
	return now.UTC().Truncate(time.Hour).Add(-(Hours - 1) * time.Hour)
}

// dayTick writes a "YYYY-MM-DD" date as an axis label ("Dec 7"); a date
// it cannot read stays as it is.
func dayTick(date string) string {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return date
	}
	return d.Format("Jan 2")
}

// span words the first and last day of a series ("Nov 8 to Dec 7").
func span(first, last string) string {
	if first == "" {
		return "no days"
	}
	return fmt.Sprintf("%s to %s, UTC", dayTick(first), dayTick(last))
}

// busiestBar returns the index of the bar with the highest total, -1 if
// every total is zero.
func busiestBar(bars []chart.Bar) int {
	best, at := int64(0), -1
	for i, b := range bars {
		if t := b.Total(); t > best {
			best, at = t, i
		}
	}
	return at
}

// count words n things: "1 day", "30 days", "1,204 runs".
func count[N int | int64](n N, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return chart.Count(int64(n)) + " " + many
}
