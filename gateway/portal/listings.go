package portal

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/meterflow/meterflow/gateway/internal/csvexport"
	"github.com/meterflow/meterflow/gateway/internal/web"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// pageSize is the rows of one page of a listing.
const pageSize = 50

// Filter values the listings offer (the API's ?kind= and ?status=).
var (
	transactionKinds = []string{"deposit", "fee", "withdrawal", "chargeback", "adjustment"}
	runStatuses      = []string{"queued", "running", "succeeded", "failed"}
)

// listView is a page of a listing with its filters.
type listView[T any] struct {
	Rows  []T
	Next  string
	Paged bool
	// Filter is the query of the current filters (for the page and CSV links).
	Filter url.Values
	// Options are the values of the select filters.
	Kinds, Statuses []string
	Workflows       []*workflowv1.Workflow
	Kind, Status    string
	Workflow        string
}

// oneOf keeps a filter value only when it is one of the offered ones.
func oneOf(v string, list []string) string {
	if slices.Contains(list, v) {
		return v
	}
	return ""
}

func filterOf(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

func (p *Portal) transactions(x *fiber.Ctx, s *web.Session) error {
	kind := oneOf(x.Query("kind"), transactionKinds)
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Wallet.ListTransactions(ctx, &walletv1.ListTransactionsRequest{Kind: kind, Limit: pageSize, Cursor: x.Query("cursor")})
	if err != nil {
		return err
	}
	v := listView[*walletv1.Transaction]{
		Rows: r.GetTransactions(), Next: r.GetNextCursor(), Paged: x.Query("cursor") != "",
		Filter: filterOf("kind", kind), Kinds: transactionKinds, Kind: kind,
	}
	return p.render(x, s, http.StatusOK, "transactions", "Transactions", "transactions", v)
}

func (p *Portal) transactionsCSV(x *fiber.Ctx, s *web.Session) error {
	kind := oneOf(x.Query("kind"), transactionKinds)
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*walletv1.Transaction, string, error) {
		r, err := p.d.Wallet.ListTransactions(ctx, &walletv1.ListTransactionsRequest{Kind: kind, Limit: limit, Cursor: cursor})
		return r.GetTransactions(), r.GetNextCursor(), err
	}
	return web.SendCSV(p.site, x, s, csvexport.Transactions(fetch))
}

// runFilter reads the runs page's filters.
func runFilter(x *fiber.Ctx) (workflow, status string) {
	return strings.TrimSpace(x.Query("workflow")), oneOf(x.Query("status"), runStatuses)
}

func (p *Portal) runs(x *fiber.Ctx, s *web.Session) error {
	workflow, status := runFilter(x)
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Workflow.ListRuns(ctx, &workflowv1.ListRunsRequest{Workflow: workflow, Status: status, Limit: pageSize, Cursor: x.Query("cursor")})
	if err != nil {
		return err
	}
	wr, err := p.d.Workflow.ListWorkflows(ctx, &workflowv1.ListWorkflowsRequest{})
	if err != nil {
		return err
	}
	v := listView[*workflowv1.Run]{
		Rows: r.GetRuns(), Next: r.GetNextCursor(), Paged: x.Query("cursor") != "",
		Filter: filterOf("workflow", workflow, "status", status), Statuses: runStatuses, Status: status,
		Workflows: wr.GetWorkflows(), Workflow: workflow,
	}
	return p.render(x, s, http.StatusOK, "runs", "Runs", "runs", v)
}

func (p *Portal) runsCSV(x *fiber.Ctx, s *web.Session) error {
	workflow, status := runFilter(x)
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*workflowv1.Run, string, error) {
		r, err := p.d.Workflow.ListRuns(ctx, &workflowv1.ListRunsRequest{Workflow: workflow, Status: status, Limit: limit, Cursor: cursor})
		return r.GetRuns(), r.GetNextCursor(), err
	}
	return web.SendCSV(p.site, x, s, csvexport.Runs(fetch))
}

// runView is a run's page; Refresh reloads it while the run is open,
// until Slow.
type runView struct {
	Run     *workflowv1.Run
	Refresh string
	Slow    bool
}

func (p *Portal) run(x *fiber.Ctx, s *web.Session) error {
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return web.ErrNotFound
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Workflow.GetRun(ctx, &workflowv1.GetRunRequest{Id: id})
	if err != nil {
		return err // another user's run is the workflow service's 404
	}
	v := runView{Run: r.GetRun()}
	if st := v.Run.GetStatus(); st == "queued" || st == "running" {
		v.Refresh, v.Slow = p.refresh(x, "/runs/"+id, nil)
	}
	return p.render(x, s, http.StatusOK, "run", "Run "+web.ShortID(id), "runs", v)
}
