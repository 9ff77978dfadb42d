// Package csvexport is the one CSV export of the gateway: the admin API's
// ?format=csv and the admin console's downloads write the same files
// through it (and the user portal's will). One writer (RFC 4180 quoting, a
// header row, every cell formula-neutralised), one row cap, one rule for
// what happens at the cap or on a failure midway, and one paging of the
// listing (by bytes, through sizedpages).
package csvexport

import (
	"encoding/csv"
	"io"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/money"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// plainNumber matches the numbers the exports write themselves; they may
// start with "-" without being a formula.
var plainNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// NeutralizeCell defuses spreadsheet formula injection (CWE-1236): a cell
// starting with =, +, -, @, tab or carriage return is prefixed with a single
// quote, so spreadsheet programs show it as text instead of evaluating it.
// Plain numbers such as -150 or -1.50 are left as they are.
func NeutralizeCell(s string) string {
	if s == "" || plainNumber.MatchString(s) {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// timeCell formats a timestamp as RFC 3339 in UTC, empty when absent.
func timeCell(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

// TransactionsHeader is the header row of transaction exports.
var TransactionsHeader = []string{"id", "created_at", "user_id", "kind", "amount_cents", "amount", "balance_after_cents", "description", "reference_type", "reference_id"}

// RunsHeader is the header row of run exports.
var RunsHeader = []string{"id", "created_at", "user_id", "workflow", "status", "fee_cents", "charged_cents", "http_status", "duration_ms", "started_at", "finished_at", "error", "input_json", "output_json", "api_key_id"}

// Writer writes the rows of one export: RFC 4180 quoting, the header row
// before the first rows (or alone, for an empty export), and every cell
// neutralised (NeutralizeCell). Write page after page, then Flush.
type Writer struct {
	w      *csv.Writer
	header []string
	wrote  bool
}

// NewTransactions returns a writer of transaction exports.
func NewTransactions(w io.Writer) *Writer {
	return &Writer{w: csv.NewWriter(w), header: TransactionsHeader}
}

// NewRuns returns a writer of run exports.
func NewRuns(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w), header: RunsHeader} }

func (c *Writer) writeHeader() error {
	if c.wrote {
		return nil
	}
	c.wrote = true
	return c.w.Write(c.header)
}

func (c *Writer) writeRow(cells []string) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	for i, s := range cells {
		cells[i] = NeutralizeCell(s)
	}
	return c.w.Write(cells)
}

// WriteTransactions appends txs.
func (c *Writer) WriteTransactions(txs []*walletv1.Transaction) error {
	for _, t := range txs {
		err := c.writeRow([]string{
			t.GetId(), timeCell(t.GetCreatedAt()), t.GetUserId(), t.GetKind(),
			strconv.FormatInt(t.GetAmountCents(), 10), money.Decimal(t.GetAmountCents()),
			strconv.FormatInt(t.GetBalanceAfterCents(), 10),
			t.GetDescription(), t.GetReferenceType(), t.GetReferenceId(),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// WriteRuns appends runs.
func (c *Writer) WriteRuns(runs []*workflowv1.Run) error {
	for _, r := range runs {
		duration := ""
		if r.DurationMs != nil {
			duration = strconv.FormatInt(r.GetDurationMs(), 10)
		}
		httpStatus := ""
		if r.GetHttpStatus() != 0 {
			httpStatus = strconv.Itoa(int(r.GetHttpStatus()))
		}
		err := c.writeRow([]string{
			r.GetId(), timeCell(r.GetCreatedAt()), r.GetUserId(), r.GetWorkflow(), r.GetStatus(),
			strconv.FormatInt(r.GetFeeCents(), 10), strconv.FormatInt(r.GetChargedCents(), 10),
			httpStatus, duration, timeCell(r.GetStartedAt()), timeCell(r.GetFinishedAt()),
			r.GetError(), string(r.GetInputJson()), string(r.GetOutputJson()), r.GetApiKeyId(),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the header if no row came, and flushes buffered rows.
func (c *Writer) Flush() error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}
