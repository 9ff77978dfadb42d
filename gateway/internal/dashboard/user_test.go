package dashboard

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/web/chart"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// stubs answer as the services do, and record the days asked for.
type spendStub struct {
	days int32
	err  error
}

func (s *spendStub) GetSpendByDay(_ context.Context, in *walletv1.GetSpendByDayRequest, _ ...grpc.CallOption) (*walletv1.GetSpendByDayResponse, error) {
	s.days = in.GetDays()
	return &walletv1.GetSpendByDayResponse{Days: []*walletv1.SpendDay{{Date: "2026-12-07", SpentCents: 125}}, TotalCents: 125, Currency: "usd"}, s.err
}

type runsStub struct {
	days int32
	err  error
}

func (s *runsStub) GetRunStats(_ context.Context, in *workflowv1.GetRunStatsRequest, _ ...grpc.CallOption) (*workflowv1.GetRunStatsResponse, error) {
	s.days = in.GetDays()
	c := &workflowv1.RunCounts{Succeeded: 4, Failed: 1}
	return &workflowv1.GetRunStatsResponse{ByDay: []*workflowv1.RunDay{{Date: "2026-12-07", Runs: c}}, Total: c}, s.err
}

func TestLoadUser(t *testing.T) {
	t.Parallel()
	w, r := &spendStub{}, &runsStub{}
	got, err := LoadUser(context.Background(), w, r, Days)
	if err != nil {
		t.Fatal(err)
	}
	if w.days != Days || r.days != Days || got.SpendCents != 125 || got.RunCounts.GetSucceeded() != 4 {
		t.Fatalf("asked %d and %d days; got %+v", w.days, r.days, got)
	}
	spend, err := chart.Read([]byte(got.Spend), SpendChartID)
	if err != nil || len(spend.Bars) != 1 || spend.Bars[0].Values[0] != 125 {
		t.Fatalf("spend chart %+v, %v", spend, err)
	}
	runs, err := chart.Read([]byte(got.Runs), UserRunsChartID)
	if err != nil || len(runs.Bars) != 1 || runs.Bars[0].Values[2] != 4 || runs.Bars[0].Values[3] != 1 {
		t.Fatalf("runs chart %+v, %v", runs, err)
	}
	if !strings.Contains(string(got.Spend), "You spent $1.25 on runs over 1 day") {
		t.Errorf("spend chart's summary: %s", got.Spend)
	}

	// Either service's error comes back as it was, for web.Server.Fail.
	down := status.Error(codes.Unavailable, "wallet down")
	if _, err := LoadUser(context.Background(), &spendStub{err: down}, &runsStub{}, Days); !errors.Is(err, down) {
		t.Errorf("wallet down: %v", err)
	}
	if _, err := LoadUser(context.Background(), &spendStub{}, &runsStub{err: down}, Days); !errors.Is(err, down) {
		t.Errorf("workflow down: %v", err)
	}
}
