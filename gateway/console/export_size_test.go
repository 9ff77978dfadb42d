package console_test

import (
	"encoding/csv"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/gateway/internal/grpcstub"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// TestRunsCSVLargeRows: the console's run export reads pages sized by
// bytes. 450 runs of 100 KiB each: a fixed page of 200 would be 20 MiB,
// five times gRPC's cap. The stack's identity signs the admin in; the runs
// come from a stub over a real gRPC connection, so the test does not depend
// on what the workflow service keeps in its rows.
func TestRunsCSVLargeRows(t *testing.T) {
	t.Parallel()
	const rowBytes = 100 << 10
	if 200*rowBytes <= grpcservice.MaxMessageBytes {
		t.Fatal("rows too small to exceed the message cap in a page of 200")
	}
	b := setup(t, console.Config{CookieSecure: true, LoginPerMinute: 1000})
	runs := &grpcstub.Runs{N: 450, InputBytes: func(int) int { return rowBytes }}
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
	b.url = "http://" + lis.Addr().String() + "/admin"

	br := b.newBrowser()
	if r := br.login(b.admin, adminPassword); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
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
