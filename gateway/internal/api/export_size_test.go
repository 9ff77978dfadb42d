package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/gateway/grpcstub"
	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/platform/grpcservice"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// largeRuns serves n runs of rowBytes of input each over a real gRPC
// connection with the production caps, wrapped as the app wraps it.
func largeRuns(t *testing.T, n, rowBytes int) (workflowv1.WorkflowServiceClient, *grpcstub.Runs) {
	t.Helper()
	runs := &grpcstub.Runs{N: n, InputBytes: func(int) int { return rowBytes }}
	conn := grpcstub.Start(t, func(s *grpc.Server) { workflowv1.RegisterWorkflowServiceServer(s, runs) })
	return workflowv1.NewWorkflowServiceClient(rpcclient.Wrap(conn)), runs
}

// TestRunsCSVExportLargeRows: 450 runs of 100 KiB each. A fixed page of 200
// would be 20 MiB, five times gRPC's cap; the export still has every row.
func TestRunsCSVExportLargeRows(t *testing.T) {
	t.Parallel()
	const rowBytes = 100 << 10
	if 200*rowBytes <= grpcservice.MaxMessageBytes {
		t.Fatal("rows too small to exceed the message cap in a page of 200")
	}
	client, runs := largeRuns(t, 450, rowBytes)
	b := setup(t, setupOpts{workflowClient: client, callTimeout: time.Minute})
	admin := b.keys.test.AccessToken(t, "admin-1", true)
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/admin/runs?format=csv", ""), admin))
	if resp.StatusCode != 200 {
		t.Fatalf("%d: %.300s", resp.StatusCode, body)
	}
	rows := readCSV(t, body)
	if len(rows) != 451 {
		t.Fatalf("%d rows, want 451 (limits asked: %v)", len(rows), runs.Limits())
	}
	for i, r := range rows[1:] {
		if r[0] != grpcstub.RunID(i) || len(r[12]) != rowBytes {
			t.Fatalf("row %d: id %s, input %d bytes", i, r[0], len(r[12]))
		}
	}
}

// TestMessageSizeIsNotRateLimited: a listing whose answer is over gRPC's
// cap is a 500 internal problem, logged with the RPC, never a 429.
func TestMessageSizeIsNotRateLimited(t *testing.T) {
	t.Parallel()
	client, _ := largeRuns(t, 200, 100<<10)
	var logs syncBuffer
	b := setup(t, setupOpts{workflowClient: client, callTimeout: time.Minute, log: slog.New(slog.NewJSONHandler(&logs, nil))})
	admin := b.keys.test.AccessToken(t, "admin-1", true)
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/admin/runs?limit=200", ""), admin))
	p := wantProblem(t, resp, body, http.StatusInternalServerError, "internal")
	if resp.Header.Get("Retry-After") != "" || strings.Contains(p.Detail, "larger than max") {
		t.Fatalf("Retry-After %q, detail %q", resp.Header.Get("Retry-After"), p.Detail)
	}
	var logged map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"service call failed"`) {
			if err := json.Unmarshal([]byte(line), &logged); err != nil {
				t.Fatal(err)
			}
		}
	}
	if logged["level"] != "ERROR" || logged["method"] != "/meterflow.workflow.v1.WorkflowService/AdminListRuns" || logged["grpc_code"] != "ResourceExhausted" {
		t.Fatalf("log line %v in\n%s", logged, logs.String())
	}
}
