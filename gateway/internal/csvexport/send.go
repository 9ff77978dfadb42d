package csvexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/gateway/internal/sizedpages"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// DefaultMaxRows caps one export: enough for an accounting period of a
// small deployment, small enough that one request cannot walk a whole
// ledger. Narrow larger exports with the filters (user, kind, dates), or
// continue from a cursor.
const DefaultMaxRows = 100_000

// Timeout bounds a whole export, whatever the services' pace.
const Timeout = 5 * time.Minute

// ContentType is the media type of the exports.
const ContentType = "text/csv; charset=utf-8"

// Export is one kind of download: how to read the listing and write its rows.
type Export[T proto.Message] struct {
	// Name starts the file name: Name-YYYY-MM-DD.csv (UTC date).
	Name      string
	fetch     sizedpages.Fetch[T]
	newWriter func(io.Writer) *Writer
	write     func(*Writer, []T) error
}

// Transactions exports ledger rows read by fetch.
func Transactions(fetch sizedpages.Fetch[*walletv1.Transaction]) Export[*walletv1.Transaction] {
	return Export[*walletv1.Transaction]{Name: "transactions", fetch: fetch, newWriter: NewTransactions, write: (*Writer).WriteTransactions}
}

// Runs exports runs read by fetch.
func Runs(fetch sizedpages.Fetch[*workflowv1.Run]) Export[*workflowv1.Run] {
	return Export[*workflowv1.Run]{Name: "runs", fetch: fetch, newWriter: NewRuns, write: (*Writer).WriteRuns}
}

// Options are one request's settings of an export.
type Options struct {
	// Cursor is where the export starts ("" for the newest row).
	Cursor string
	// MaxRows caps the export; 0 means DefaultMaxRows.
	MaxRows int
	// PageTimeout bounds the call of each page after the first.
	PageTimeout time.Duration
	// Log receives the failures and truncations after the answer started;
	// LogAttrs are added to those lines (e.g. the request id).
	Log      *slog.Logger
	LogAttrs []any
}

// Send answers c with the export.
//
// The first page is read with first (the request's context, with its
// deadline) before anything is sent, so a bad filter or a service that is
// down is returned as an error for the caller to answer as it answers any
// error (a problem document, an error page). The rest is streamed while it
// is read, after the handler has returned, under stream: not the request's
// context (Fiber reuses it for the next request) but one carrying what the
// calls need (the user's token, the request id, the trace), e.g.
// context.WithoutCancel of it; Send bounds it by Timeout.
//
// Once the first bytes are out the status cannot change, so:
//   - at MaxRows the export stops, exactly there (the X-Export-Row-Limit
//     header says the cap) and the truncation is logged;
//   - a failure midway aborts the response: the connection is dropped
//     without the final chunk, so no client takes a short file for a
//     complete one, and the failure is logged.
//
// No row ever says anything but data: a file always parses as the header's
// columns.
func Send[T proto.Message](c *fiber.Ctx, first, stream context.Context, e Export[T], o Options) error {
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	pager := sizedpages.New(e.fetch)
	page, next, err := pager.Next(first, o.Cursor, o.MaxRows)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(stream, Timeout)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		rows, truncated, err := writePages(ctx, pw, e, pager, page, next, o)
		attrs := append([]any{"export", e.Name, "rows", rows}, o.LogAttrs...)
		switch {
		case err != nil:
			if !errors.Is(err, io.ErrClosedPipe) {
				if m := rpcclient.Method(err); m != "" {
					attrs = append(attrs, "method", m)
				}
				o.Log.ErrorContext(ctx, "csv export failed", append(attrs, "err", err)...)
			}
		case truncated:
			o.Log.WarnContext(ctx, "csv export stopped at the row cap", attrs...)
		}
		// nil ends the body normally; an error makes fasthttp drop the
		// connection without the final chunk.
		pw.CloseWithError(err)
	}()

	c.Set(fiber.HeaderContentType, ContentType)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-%s.csv"`, e.Name, time.Now().UTC().Format("2006-01-02")))
	c.Set("X-Export-Row-Limit", strconv.Itoa(o.MaxRows))
	c.Context().SetBodyStream(&body{r: pr, conn: c.Context().Conn(), writeTimeout: c.App().Config().WriteTimeout, cancel: cancel}, -1)
	return nil
}

// writePages writes the first page, then the following ones, flushing
// after each page so rows leave as they are read. truncated reports that
// the cap was reached with rows left.
func writePages[T proto.Message](ctx context.Context, w io.Writer, e Export[T], pager *sizedpages.Pager[T], page []T, next string, o Options) (rows int, truncated bool, err error) {
	cw := e.newWriter(w)
	for {
		if len(page) > o.MaxRows-rows {
			page, next = page[:o.MaxRows-rows], "more"
		}
		if err := e.write(cw, page); err != nil {
			return rows, false, err
		}
		rows += len(page)
		if err := cw.Flush(); err != nil {
			return rows, false, err
		}
		if next == "" {
			return rows, false, nil
		}
		if rows >= o.MaxRows {
			return rows, true, nil
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if o.PageTimeout > 0 {
			pctx, cancel = context.WithTimeout(ctx, o.PageTimeout)
		}
		page, next, err = pager.Next(pctx, next, o.MaxRows-rows)
		cancel()
		if err != nil {
			return rows, false, err
		}
	}
}

// body is the response body of an export. fasthttp reads it while writing
// the response, on the connection's goroutine.
type body struct {
	r            *io.PipeReader
	conn         net.Conn
	writeTimeout time.Duration
	cancel       context.CancelFunc
}

// Read hands fasthttp the next bytes. The server's write timeout is set
// once per response; an export is written while it is produced, so each
// chunk gets the full timeout instead: a stalled client is still cut off,
// a long export is not.
func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.writeTimeout > 0 && b.conn != nil {
		_ = b.conn.SetWriteDeadline(time.Now().Add(b.writeTimeout))
	}
	return n, err
}

// Close is called by fasthttp when the response is done or the client is
// gone; it stops the producer.
func (b *body) Close() error {
	b.cancel()
	return b.r.Close()
}
