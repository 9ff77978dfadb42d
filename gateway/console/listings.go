package console

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/csvexport"
	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// TransactionKinds are the ledger row kinds the filters offer.
var TransactionKinds = []string{"deposit", "fee", "withdrawal", "chargeback", "adjustment"}

// RunStatuses are the run statuses the filters offer.
var RunStatuses = []string{"queued", "running", "succeeded", "failed"}

// resolveUser turns the user filter (a user id or an exact email) into a
// user id; msg says why it matches nobody.
func (c *Console) resolveUser(ctx context.Context, in string) (id, msg string, err error) {
	in = strings.TrimSpace(in)
	if in == "" {
		return "", "", nil
	}
	if uuid.Validate(in) == nil {
		return strings.ToLower(in), "", nil
	}
	if !strings.Contains(in, "@") {
		return "", "The user filter takes a user id or an email address.", nil
	}
	r, err := c.d.Identity.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{Query: in, Limit: pageSize})
	if err != nil {
		return "", "", err
	}
	for _, u := range r.GetUsers() {
		if strings.EqualFold(u.GetEmail(), in) {
			return u.GetId(), "", nil
		}
	}
	return "", "No user has the email " + in + ".", nil
}

// txFilter is the transactions page's filter form.
type txFilter struct {
	Kind, User, From, To, Q string
	Req                     *walletv1.AdminListTransactionsRequest
	// Problem explains a filter that cannot match; the table stays empty.
	Problem string
}

func (f txFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"kind": f.Kind, "user": f.User, "from": f.From, "to": f.To, "q": f.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (c *Console) parseTxFilter(ctx context.Context, x *fiber.Ctx) (txFilter, error) {
	f := txFilter{
		Kind: x.Query("kind"), User: strings.TrimSpace(x.Query("user")),
		From: x.Query("from"), To: x.Query("to"), Q: strings.TrimSpace(x.Query("q")),
		Req: &walletv1.AdminListTransactionsRequest{},
	}
	if f.Kind != "" && !contains(TransactionKinds, f.Kind) {
		f.Kind = ""
	}
	f.Req.Kind, f.Req.Query = f.Kind, f.Q
	id, msg, err := c.resolveUser(ctx, f.User)
	if err != nil {
		return f, err
	}
	f.Req.UserId, f.Problem = id, msg
	// Dates are whole UTC days; "to" includes its day.
	if f.From != "" {
		d, err := time.Parse(time.DateOnly, f.From)
		if err != nil {
			f.Problem = "From: use a date like 2026-01-31."
		} else {
			f.Req.CreatedFrom = timestamppb.New(d)
		}
	}
	if f.To != "" {
		d, err := time.Parse(time.DateOnly, f.To)
		if err != nil {
			f.Problem = "To: use a date like 2026-01-31."
		} else {
			f.Req.CreatedTo = timestamppb.New(d.Add(24 * time.Hour))
		}
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type transactionsView struct {
	F     txFilter
	Kinds []string
	Rows  []*walletv1.Transaction
	Next  string
	Paged bool
	// Filter is the query of the current filters (for page and CSV links).
	Filter url.Values
}

func (c *Console) transactions(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	f, err := c.parseTxFilter(ctx, x)
	if err != nil {
		return err
	}
	v := transactionsView{F: f, Kinds: TransactionKinds, Paged: x.Query("cursor") != "", Filter: f.values()}
	if f.Problem == "" {
		f.Req.Limit, f.Req.Cursor = pageSize, x.Query("cursor")
		r, err := c.d.Wallet.AdminListTransactions(ctx, f.Req)
		if err != nil {
			return err
		}
		v.Rows, v.Next = r.GetTransactions(), r.GetNextCursor()
	}
	return c.render(x, s, fiber.StatusOK, "transactions", "Transactions", "transactions", v)
}

func (c *Console) transactionsCSV(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	f, err := c.parseTxFilter(ctx, x)
	if err != nil {
		return err
	}
	if f.Problem != "" {
		return web.BadRequest(f.Problem)
	}
	req := f.Req
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*walletv1.Transaction, string, error) {
		r, err := c.d.Wallet.AdminListTransactions(ctx, &walletv1.AdminListTransactionsRequest{
			UserId: req.GetUserId(), Kind: req.GetKind(), Query: req.GetQuery(),
			CreatedFrom: req.GetCreatedFrom(), CreatedTo: req.GetCreatedTo(), Limit: limit, Cursor: cursor,
		})
		return r.GetTransactions(), r.GetNextCursor(), err
	}
	return web.SendCSV(c.site, x, s, csvexport.Transactions(fetch))
}

// runFilter is the runs page's filter form.
type runFilter struct {
	Status, Workflow, User string
	// Awaiting shows only the runs waiting for their verdict (callback mode).
	Awaiting bool
	Req      *workflowv1.AdminListRunsRequest
	Problem  string
}

func (f runFilter) values() url.Values {
	v := url.Values{}
	awaiting := ""
	if f.Awaiting {
		awaiting = "1"
	}
	for k, s := range map[string]string{"status": f.Status, "workflow": f.Workflow, "user": f.User, "awaiting": awaiting} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (c *Console) parseRunFilter(ctx context.Context, x *fiber.Ctx) (runFilter, error) {
	f := runFilter{Status: x.Query("status"), Workflow: strings.TrimSpace(x.Query("workflow")), User: strings.TrimSpace(x.Query("user")),
		Awaiting: x.Query("awaiting") == "1"}
	if f.Status != "" && !contains(RunStatuses, f.Status) || f.Awaiting && f.Status != "running" {
		f.Status = ""
	}
	id, msg, err := c.resolveUser(ctx, f.User)
	if err != nil {
		return f, err
	}
	f.Problem = msg
	f.Req = &workflowv1.AdminListRunsRequest{UserId: id, Workflow: f.Workflow, Status: f.Status, AwaitingCallback: f.Awaiting}
	return f, nil
}

type runsView struct {
	F         runFilter
	Statuses  []string
	Workflows []*workflowv1.AdminWorkflow
	Rows      []*workflowv1.Run
	Next      string
	Paged     bool
	Filter    url.Values
}

func (c *Console) runs(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	f, err := c.parseRunFilter(ctx, x)
	if err != nil {
		return err
	}
	v := runsView{F: f, Statuses: RunStatuses, Paged: x.Query("cursor") != "", Filter: f.values()}
	wr, err := c.d.Workflow.AdminListWorkflows(ctx, &workflowv1.AdminListWorkflowsRequest{})
	if err != nil {
		return err
	}
	v.Workflows = wr.GetWorkflows()
	if f.Problem == "" {
		f.Req.Limit, f.Req.Cursor = pageSize, x.Query("cursor")
		r, err := c.d.Workflow.AdminListRuns(ctx, f.Req)
		if err != nil {
			return err
		}
		v.Rows, v.Next = r.GetRuns(), r.GetNextCursor()
	}
	return c.render(x, s, fiber.StatusOK, "runs", "Runs", "runs", v)
}

func (c *Console) runsCSV(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	f, err := c.parseRunFilter(ctx, x)
	if err != nil {
		return err
	}
	if f.Problem != "" {
		return web.BadRequest(f.Problem)
	}
	req := f.Req
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*workflowv1.Run, string, error) {
		r, err := c.d.Workflow.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{
			UserId: req.GetUserId(), Workflow: req.GetWorkflow(), Status: req.GetStatus(), Limit: limit, Cursor: cursor,
			AwaitingCallback: req.GetAwaitingCallback(),
		})
		return r.GetRuns(), r.GetNextCursor(), err
	}
	return web.SendCSV(c.site, x, s, csvexport.Runs(fetch))
}

func (c *Console) run(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return web.ErrNotFound
	}
	r, err := c.d.Workflow.AdminGetRun(ctx, &workflowv1.AdminGetRunRequest{Id: id})
	if err != nil {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "run", "Run "+web.ShortID(id), "runs", r.GetRun())
}

// since words how long ago ts was ("4m10s"), for runs waiting for a verdict.
func since(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "—"
	}
	return time.Since(ts.AsTime()).Round(time.Second).String()
}

// until words how long until ts ("10m50s"), or "passed".
func until(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "—"
	}
	d := time.Until(ts.AsTime()).Round(time.Second)
	if d <= 0 {
		return "passed"
	}
	return d.String()
}
