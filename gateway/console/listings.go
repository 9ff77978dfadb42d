package console

import (
	"bufio"
	"context"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/gateway/internal/sizedpages"
	"github.com/meterflow/meterflow/platform/callauth"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// exportTimeout bounds one streamed export.
const exportTimeout = 5 * time.Minute

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

func (c *Console) transactions(x *fiber.Ctx, s *session) error {
	ctx, cancel := c.call(x, s)
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

// startCSV sets the headers of a CSV download.
func startCSV(x *fiber.Ctx, name string, now time.Time) {
	x.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	x.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+"-"+now.UTC().Format("20060102-150405")+`.csv"`)
}

// streamCSV sends an export page by page: the first page is read before
// the answer starts (so a failing service still gets an error page), the
// rest while the body streams. Pages are sized by bytes (sizedpages), so
// large rows never push one over gRPC's message cap. A failure or the row
// cap after the start can only end the file early; a last row says so, so
// the cut is never silent.
func streamCSV[T proto.Message](c *Console, x *fiber.Ctx, s *session, name string, fetch sizedpages.Fetch[T], newW func(io.Writer) *CSVWriter, write func(*CSVWriter, []T) error) error {
	limit := c.cfg.CSVMaxRows
	pager := sizedpages.New(fetch)
	ctx, cancel := c.call(x, s)
	page, next, err := pager.Next(ctx, "", limit)
	cancel()
	if err != nil {
		return err
	}
	startCSV(x, name, c.cfg.Now())
	log, token := c.log, s.Access
	x.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(callauth.WithUserToken(context.Background(), token), exportTimeout)
		defer cancel()
		out := newW(w)
		rows := 0
		for {
			if err := write(out, page); err != nil {
				return // the client went away
			}
			rows += len(page)
			if next == "" {
				break
			}
			if rows >= limit {
				_ = out.writeRow([]string{"# export stopped at " + strconv.Itoa(rows) + " rows; narrow the filters"})
				break
			}
			_ = out.Flush()
			if err := w.Flush(); err != nil {
				return // the client went away
			}
			if page, next, err = pager.Next(ctx, next, limit-rows); err != nil {
				log.ErrorContext(ctx, "console: CSV export failed midway", "rows", rows, "method", rpcclient.Method(err), "err", err)
				_ = out.writeRow([]string{"# export incomplete: a service failed after " + strconv.Itoa(rows) + " rows; try again"})
				break
			}
		}
		_ = out.Flush()
		_ = w.Flush()
	})
	return nil
}

func (c *Console) transactionsCSV(x *fiber.Ctx, s *session) error {
	ctx, cancel := c.call(x, s)
	defer cancel()
	f, err := c.parseTxFilter(ctx, x)
	if err != nil {
		return err
	}
	if f.Problem != "" {
		return badRequest(f.Problem)
	}
	req := f.Req
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*walletv1.Transaction, string, error) {
		r, err := c.d.Wallet.AdminListTransactions(ctx, &walletv1.AdminListTransactionsRequest{
			UserId: req.GetUserId(), Kind: req.GetKind(), Query: req.GetQuery(),
			CreatedFrom: req.GetCreatedFrom(), CreatedTo: req.GetCreatedTo(), Limit: limit, Cursor: cursor,
		})
		return r.GetTransactions(), r.GetNextCursor(), err
	}
	return streamCSV(c, x, s, "transactions", fetch, NewTransactionsCSV, (*CSVWriter).WriteTransactions)
}

// runFilter is the runs page's filter form.
type runFilter struct {
	Status, Workflow, User string
	Req                    *workflowv1.AdminListRunsRequest
	Problem                string
}

func (f runFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"status": f.Status, "workflow": f.Workflow, "user": f.User} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func (c *Console) parseRunFilter(ctx context.Context, x *fiber.Ctx) (runFilter, error) {
	f := runFilter{Status: x.Query("status"), Workflow: strings.TrimSpace(x.Query("workflow")), User: strings.TrimSpace(x.Query("user"))}
	if f.Status != "" && !contains(RunStatuses, f.Status) {
		f.Status = ""
	}
	id, msg, err := c.resolveUser(ctx, f.User)
	if err != nil {
		return f, err
	}
	f.Problem = msg
	f.Req = &workflowv1.AdminListRunsRequest{UserId: id, Workflow: f.Workflow, Status: f.Status}
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

func (c *Console) runs(x *fiber.Ctx, s *session) error {
	ctx, cancel := c.call(x, s)
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

func (c *Console) runsCSV(x *fiber.Ctx, s *session) error {
	ctx, cancel := c.call(x, s)
	defer cancel()
	f, err := c.parseRunFilter(ctx, x)
	if err != nil {
		return err
	}
	if f.Problem != "" {
		return badRequest(f.Problem)
	}
	req := f.Req
	fetch := func(ctx context.Context, cursor string, limit int32) ([]*workflowv1.Run, string, error) {
		r, err := c.d.Workflow.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{
			UserId: req.GetUserId(), Workflow: req.GetWorkflow(), Status: req.GetStatus(), Limit: limit, Cursor: cursor,
		})
		return r.GetRuns(), r.GetNextCursor(), err
	}
	return streamCSV(c, x, s, "runs", fetch, NewRunsCSV, (*CSVWriter).WriteRuns)
}

func (c *Console) run(x *fiber.Ctx, s *session) error {
	ctx, cancel := c.call(x, s)
	defer cancel()
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return errNotFound
	}
	r, err := c.d.Workflow.AdminGetRun(ctx, &workflowv1.AdminGetRunRequest{Id: id})
	if err != nil {
		return err
	}
	return c.render(x, s, fiber.StatusOK, "run", "Run "+shortID(id), "runs", r.GetRun())
}
