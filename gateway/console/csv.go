package console

import (
	"encoding/csv"
	"io"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

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

// csvTime formats a timestamp as RFC 3339 in UTC, empty when absent.
func csvTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

// TransactionsCSVHeader is the header row of transaction exports.
var TransactionsCSVHeader = []string{"id", "created_at", "user_id", "kind", "amount_cents", "amount", "balance_after_cents", "description", "reference_type", "reference_id"}

// RunsCSVHeader is the header row of run exports.
var RunsCSVHeader = []string{"id", "created_at", "user_id", "workflow", "status", "fee_cents", "charged_cents", "http_status", "duration_ms", "started_at", "finished_at", "error", "input_json", "output_json"}

// CSVWriter writes rows of one export: RFC 4180 quoting, a header row
// before the first rows, and every cell neutralised (NeutralizeCell).
// Write page after page, then Flush.
type CSVWriter struct {
	w      *csv.Writer
	header []string
	wrote  bool
}

func newCSVWriter(w io.Writer, header []string) *CSVWriter {
	return &CSVWriter{w: csv.NewWriter(w), header: header}
}

// NewTransactionsCSV returns a writer of transaction exports.
func NewTransactionsCSV(w io.Writer) *CSVWriter { return newCSVWriter(w, TransactionsCSVHeader) }

// NewRunsCSV returns a writer of run exports.
func NewRunsCSV(w io.Writer) *CSVWriter { return newCSVWriter(w, RunsCSVHeader) }

func (c *CSVWriter) writeRow(cells []string) error {
	if !c.wrote {
		c.wrote = true
		if err := c.w.Write(c.header); err != nil {
			return err
		}
	}
	for i, s := range cells {
		cells[i] = NeutralizeCell(s)
	}
	return c.w.Write(cells)
}

// WriteTransactions appends txs.
func (c *CSVWriter) WriteTransactions(txs []*walletv1.Transaction) error {
	for _, t := range txs {
		err := c.writeRow([]string{
			t.GetId(), csvTime(t.GetCreatedAt()), t.GetUserId(), t.GetKind(),
			strconv.FormatInt(t.GetAmountCents(), 10), dollarsInput(t.GetAmountCents()),
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
func (c *CSVWriter) WriteRuns(runs []*workflowv1.Run) error {
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
			r.GetId(), csvTime(r.GetCreatedAt()), r.GetUserId(), r.GetWorkflow(), r.GetStatus(),
			strconv.FormatInt(r.GetFeeCents(), 10), strconv.FormatInt(r.GetChargedCents(), 10),
			httpStatus, duration, csvTime(r.GetStartedAt()), csvTime(r.GetFinishedAt()),
			r.GetError(), string(r.GetInputJson()), string(r.GetOutputJson()),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the header if no row came, and flushes buffered rows.
func (c *CSVWriter) Flush() error {
	if !c.wrote {
		c.wrote = true
		if err := c.w.Write(c.header); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

// WriteTransactionsCSV writes txs as a complete CSV document with a header.
func WriteTransactionsCSV(w io.Writer, txs []*walletv1.Transaction) error {
	c := NewTransactionsCSV(w)
	if err := c.WriteTransactions(txs); err != nil {
		return err
	}
	return c.Flush()
}

// WriteRunsCSV writes runs as a complete CSV document with a header.
func WriteRunsCSV(w io.Writer, runs []*workflowv1.Run) error {
	c := NewRunsCSV(w)
	if err := c.WriteRuns(runs); err != nil {
		return err
	}
	return c.Flush()
}
