package csvexport

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/gateway/internal/money"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// FuzzExportCSV drives the whole transaction and run writers (the ones the
// console and the API exports share) with user-controlled text in every
// free-form column: each document parses back as CSV with one record per
// row and the header's width, no cell starts with =, +, -, @, tab or CR
// unless it is a plain number, and every cell reads back as the
// neutralised value that was written.
func FuzzExportCSV(f *testing.F) {
	for _, s := range []struct {
		a, b, c string
		n       int64
		in, out string
	}{
		{"Wallet top-up", "topup", "=1+2", 1000, `{"name":"ada"}`, `{"ok":true}`},
		{"+SUM(A1)", "-cmd|' /C calc'!A0", "@x", -150, `"=HYPERLINK(\"x\")"`, `-1`},
		{"\tx", "\rx", "a,b\"c\nd", -9223372036854775808, `[1,2]`, `"@"`},
		{"line1\r\nline2", "\r\n=x", " =1", 9223372036854775807, "=x", "+y"},
		{"", "", "", 0, "", ""},
		{"-1.50", "-150", "1e5", -1, "-0", "-1.5"},
	} {
		f.Add(s.a, s.b, s.c, s.n, []byte(s.in), []byte(s.out))
	}
	f.Fuzz(func(t *testing.T, a, b, c string, n int64, in, out []byte) {
		txs := []*walletv1.Transaction{
			{Id: a, UserId: b, Kind: c, AmountCents: n, BalanceAfterCents: -n, Description: a, ReferenceType: b, ReferenceId: c},
			{Id: "t2", Kind: "fee", AmountCents: n, Description: c + a},
		}
		var buf bytes.Buffer
		if err := WriteTransactionsCSV(&buf, txs); err != nil {
			t.Fatal(err)
		}
		checkCSV(t, buf.Bytes(), TransactionsHeader, [][]string{
			{a, "", b, c, strconv.FormatInt(n, 10), money.Decimal(n), strconv.FormatInt(-n, 10), a, b, c},
			{"t2", "", "", "fee", strconv.FormatInt(n, 10), money.Decimal(n), "0", c + a, "", ""},
		})

		d := n
		runs := []*workflowv1.Run{
			{Id: a, UserId: b, Workflow: c, Status: a, FeeCents: n, ChargedCents: n, HttpStatus: int32(n), DurationMs: &d,
				Error: b, InputJson: in, OutputJson: out},
			{Id: "r2", Status: "failed", Error: c, InputJson: out, OutputJson: in, ApiKeyId: a},
		}
		httpStatus := ""
		if int32(n) != 0 {
			httpStatus = strconv.Itoa(int(int32(n)))
		}
		buf.Reset()
		if err := WriteRunsCSV(&buf, runs); err != nil {
			t.Fatal(err)
		}
		checkCSV(t, buf.Bytes(), RunsHeader, [][]string{
			{a, "", b, c, a, strconv.FormatInt(n, 10), strconv.FormatInt(n, 10), httpStatus, strconv.FormatInt(n, 10), "", "", b, string(in), string(out), ""},
			{"r2", "", "", "", "failed", "0", "0", "", "", "", "", c, string(out), string(in), a},
		})
	})
}

// checkCSV parses doc and compares it with the header and the rows as they
// were given to the writer.
func checkCSV(t *testing.T, doc []byte, header []string, want [][]string) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(doc))
	r.FieldsPerRecord = len(header)
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("export does not parse back: %v\n%q", err, doc)
	}
	if len(records) != len(want)+1 || strings.Join(records[0], ",") != strings.Join(header, ",") {
		t.Fatalf("export has %d records (want %d) or a wrong header:\n%q", len(records), len(want)+1, doc)
	}
	for i, row := range records[1:] {
		for j, cell := range row {
			if cell != "" && !plainNumber.MatchString(cell) && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("row %d column %s: cell %q starts with a formula trigger", i, header[j], cell)
			}
			// encoding/csv reads \r\n inside a quoted field back as \n.
			if exp := strings.ReplaceAll(NeutralizeCell(want[i][j]), "\r\n", "\n"); cell != exp {
				t.Fatalf("row %d column %s: read back %q, wrote %q (neutralised %q)", i, header[j], cell, want[i][j], exp)
			}
		}
	}
}
