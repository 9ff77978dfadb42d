package console_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/gateway/grpcstub"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// TestRunsCSVFromStub checks the console's run export against runs served
// by a stub over a real gRPC connection, so the test does not depend on
// what the workflow service keeps in its rows. The stack's identity signs
// the admin in; the subtests share it.
func TestRunsCSVFromStub(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{CookieSecure: true, LoginPerMinute: 1000})
	t.Run("large rows", func(t *testing.T) { runsCSVLargeRows(t, b) })
	t.Run("a failure midway aborts the download", func(t *testing.T) { runsCSVFailureMidway(t, b) })
}

// withRuns serves a console whose workflow client is a stub serving runs,
// and returns a browser signed in to it.
func withRuns(t *testing.T, b *bundle, runs *grpcstub.Runs) *browser {
	t.Helper()
	conn := grpcstub.Start(t, func(s *grpc.Server) { workflowv1.RegisterWorkflowServiceServer(s, runs) })
	c, err := console.New(console.Config{CookieSecure: true, LoginPerMinute: 1000, KeyPrefix: "consoletest:" + randomHex() + ":", SessionKey: testKey(t)}, console.Deps{
		Identity: b.identity, Wallet: b.wallet, Workflow: workflowv1.NewWorkflowServiceClient(conn),
		Users: callauth.AccessVerifier{Keys: callauth.NewRemoteKeySet(b.identity), Issuer: "meterflow-identity", Audience: "meterflow-api"},
		Redis: b.redis,
	})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	c.Register(app.Group("/admin"))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(lis) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(2 * time.Second) })
	own := *b
	own.url = "http://" + lis.Addr().String() + "/admin"
	br := own.newBrowser()
	if r := br.login(b.admin, adminPassword); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	return br
}

// runsCSVLargeRows: the console's run export reads pages sized by bytes.
// 450 runs of 100 KiB each: a fixed page of 200 would be 20 MiB, five
// times gRPC's cap.
func runsCSVLargeRows(t *testing.T, b *bundle) {
	const rowBytes = 100 << 10
	if 200*rowBytes <= grpcservice.MaxMessageBytes {
		t.Fatal("rows too small to exceed the message cap in a page of 200")
	}
	runs := &grpcstub.Runs{N: 450, InputBytes: func(int) int { return rowBytes }}
	br := withRuns(t, b, runs)
	p := br.get("/runs.csv")
	if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("runs.csv: %d %.300s", p.Status, p.Body)
	}
	rows, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v", err)
	}
	if len(rows) != 451 {
		t.Fatalf("%d rows, want 451; last %.200v (limits asked: %v)", len(rows), rows[len(rows)-1], runs.Limits())
	}
	for i, r := range rows[1:] {
		if r[0] != grpcstub.RunID(i) || len(r[12]) != rowBytes {
			t.Fatalf("row %d: id %s, input %d bytes", i, r[0], len(r[12]))
		}
	}
}

// runsCSVFailureMidway: a service failing after the download started cuts
// the download off (the browser reports it failed), as the API's export
// does; the console used to end the file normally with a last row saying
// "# export incomplete", which a spreadsheet reads as data and a script as
// a complete file.
func runsCSVFailureMidway(t *testing.T, b *bundle) {
	br := withRuns(t, b, &grpcstub.Runs{N: 1000, FailAt: 400, InputBytes: func(int) int { return 10 }})
	req, err := http.NewRequest(http.MethodGet, br.Base+"/runs.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := br.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("runs.csv: %d %v", resp.StatusCode, resp.Header)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("the download ended normally after %d bytes: %.100q", len(body), body[max(0, len(body)-100):])
	}
	if !bytes.HasPrefix(body, []byte("id,created_at")) || !bytes.Contains(body, []byte(grpcstub.RunID(399))) || bytes.Contains(body, []byte("# export")) {
		t.Fatalf("rows before the failure were not streamed, or a note row was: %.200q", body)
	}
}
