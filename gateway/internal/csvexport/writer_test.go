package csvexport

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// WriteTransactionsCSV writes txs as a complete CSV document with a header.
func WriteTransactionsCSV(w io.Writer, txs []*walletv1.Transaction) error {
	c := NewTransactions(w)
	if err := c.WriteTransactions(txs); err != nil {
		return err
	}
	return c.Flush()
}

// WriteRunsCSV writes runs as a complete CSV document with a header.
func WriteRunsCSV(w io.Writer, runs []*workflowv1.Run) error {
	c := NewRuns(w)
	if err := c.WriteRuns(runs); err != nil {
		return err
	}
	return c.Flush()
}

func TestNeutralizeCell(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"hello", "hello"},
		{"=1+2", "'=1+2"},
		{`=HYPERLINK("http://evil.example","x")`, `'=HYPERLINK("http://evil.example","x")`},
		{"+1", "'+1"},
		{"-1+1", "'-1+1"},
		{"-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"-150", "-150"},   // our own negative cents
		{"-1.50", "-1.50"}, // our own negative dollars
		{"1.50", "1.50"},   //
		{"-1e5", "'-1e5"},  // not a plain number
		{" =1", " =1"},     // a leading space is text to spreadsheets
		{"a=b", "a=b"},     // only the first character counts
		{"'already", "'already"},
	} {
		if got := NeutralizeCell(tc.in); got != tc.want {
			t.Errorf("NeutralizeCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzNeutralizeCell: whatever a user typed, no cell of an export starts
// with a formula trigger, and the CSV reads back to the neutralised cells.
func FuzzNeutralizeCell(f *testing.F) {
	for _, s := range []string{"=1+2", "+", "-", "@", "\t", "\r", "-1.50", "a,b\"c\nd", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		tx := &walletv1.Transaction{Id: "t1", Kind: "adjustment", AmountCents: -5, Description: s, ReferenceId: s}
		if err := WriteTransactionsCSV(&buf, []*walletv1.Transaction{tx}); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("export of %q does not parse: %v", s, err)
		}
		if len(rows) != 2 {
			t.Fatalf("rows = %d", len(rows))
		}
		for _, cell := range rows[1] {
			if cell == "" || plainNumber.MatchString(cell) {
				continue
			}
			if strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("cell %q starts with a formula trigger", cell)
			}
		}
		// encoding/csv turns \r\n into \n inside quoted fields; compare with that in mind.
		want := strings.ReplaceAll(NeutralizeCell(s), "\r\n", "\n")
		if got := rows[1][7]; got != want && !strings.Contains(s, "\r") {
			t.Fatalf("description %q read back as %q, want %q", s, got, want)
		}
	})
}

func TestWriteTransactionsCSV(t *testing.T) {
	t.Parallel()
	at := timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var buf bytes.Buffer
	err := WriteTransactionsCSV(&buf, []*walletv1.Transaction{
		{Id: "t1", UserId: "u1", Kind: "fee", AmountCents: -25, BalanceAfterCents: 475, Description: `run "echo", paid`, ReferenceType: "run", ReferenceId: "r1", CreatedAt: at},
		{Id: "t2", UserId: "u1", Kind: "adjustment", AmountCents: 500, BalanceAfterCents: 500, Description: "=cmd()", CreatedAt: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "id,created_at,user_id,kind,amount_cents,amount,balance_after_cents,description,reference_type,reference_id\n" +
		"t1,2026-01-02T03:04:05Z,u1,fee,-25,-0.25,475,\"run \"\"echo\"\", paid\",run,r1\n" +
		"t2,2026-01-02T03:04:05Z,u1,adjustment,500,5.00,500,'=cmd(),,\n"
	if got := buf.String(); got != want {
		t.Fatalf("CSV =\n%s\nwant\n%s", got, want)
	}

	buf.Reset()
	if err := WriteTransactionsCSV(&buf, nil); err != nil || buf.String() != strings.Join(TransactionsHeader, ",")+"\n" {
		t.Fatalf("empty export = %q, %v", buf.String(), err)
	}
}

func TestWriteRunsCSV(t *testing.T) {
	t.Parallel()
	d := int64(1234)
	var buf bytes.Buffer
	err := WriteRunsCSV(&buf, []*workflowv1.Run{{
		Id: "r1", UserId: "u1", Workflow: "echo", Status: "failed", FeeCents: 10, ChargedCents: 0, HttpStatus: 500,
		DurationMs: &d, Error: "@boom", InputJson: []byte(`{"a":1}`), OutputJson: []byte(`"=x"`), ApiKeyId: "k1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rows[1], "|")
	want := `r1||u1|echo|failed|10|0|500|1234|||'@boom|{"a":1}|"=x"|k1`
	if got != want {
		t.Fatalf("row = %s\nwant  %s", got, want)
	}
}
