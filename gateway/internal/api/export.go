package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/gateway/internal/sizedpages"
	"github.com/meterflow/meterflow/platform/callauth"
)

// CSV exports of the admin listings (Accept: text/csv or ?format=csv).
const (
	// DefaultCSVMaxRows is the default cap of one export: enough for an
	// accounting period of a small deployment, small enough that one
	// request cannot walk a whole ledger. Narrow larger exports with the
	// filters (user, kind, date range).
	DefaultCSVMaxRows = 100_000
	// csvExportTimeout bounds a whole export, whatever the services' pace.
	csvExportTimeout = 5 * time.Minute
	mimeCSV          = "text/csv"
)

// wantsCSV reports whether the listing is asked for as CSV: ?format=csv,
// or an Accept header preferring text/csv to JSON. ?format= wins over Accept.
func wantsCSV(c *fiber.Ctx) (bool, error) {
	switch c.Query("format") {
	case "":
		return c.Accepts(fiber.MIMEApplicationJSON, mimeCSV) == mimeCSV, nil
	case "csv":
		return true, nil
	case "json":
		return false, nil
	}
	return false, validationField("format", "must be csv or json")
}

// pageFetcher reads one page of a listing.
type pageFetcher[T proto.Message] = sizedpages.Fetch[T]

// csvExport describes one export.
type csvExport[T proto.Message] struct {
	// name starts the file name: name-YYYY-MM-DD.csv.
	name  string
	newW  func(io.Writer) *console.CSVWriter
	write func(*console.CSVWriter, []T) error
	fetch pageFetcher[T]
	// cursor is where the export starts ("" for the newest).
	cursor string
}

// streamCSV answers with the export, walking the listing's pages up to
// maxRows rows. The first page is read before anything is sent, so a bad
// filter or a service that is down is still a problem document. The rest is
// streamed as it is read (chunked): once the first bytes are out the status
// cannot change, so a later failure aborts the response (the client sees an
// incomplete transfer, never a silently short file) and is logged. Pages
// are sized by bytes (sizedpages), so large rows never push one over gRPC's
// message cap.
func streamCSV[T proto.Message](s *Server, c *fiber.Ctx, e csvExport[T]) error {
	maxRows := s.d.CSVMaxRows
	if maxRows <= 0 {
		maxRows = DefaultCSVMaxRows
	}
	pager := sizedpages.New(e.fetch)
	first, next, err := func() ([]T, string, error) {
		ctx, cancel := s.callCtx(c, 0)
		defer cancel()
		return pager.Next(ctx, e.cursor, maxRows)
	}()
	if err != nil {
		return err
	}

	// The stream outlives the handler and Fiber's context (which is reused
	// for the next request once the handler returns): copy what the calls
	// need, and keep the request's trace as the parent of their spans.
	base := context.WithoutCancel(c.UserContext())
	if p, ok := c.Locals(localPrincipal).(callauth.Principal); ok && p.Token != "" {
		base = callauth.WithUserToken(base, p.Token)
	}
	reqID := requestID(c)
	base = metadata.AppendToOutgoingContext(base, "x-request-id", reqID)
	ctx, cancel := context.WithTimeout(base, csvExportTimeout)
	log := s.d.Log
	callTimeout := s.d.CallTimeout

	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		rows, truncated, err := writeCSVPages(ctx, pw, e, pager, first, next, maxRows, callTimeout)
		switch {
		case err != nil:
			if !errors.Is(err, io.ErrClosedPipe) {
				log.ErrorContext(ctx, "csv export failed", "export", e.name, "rows", rows, "err", err, "request_id", reqID)
			}
		case truncated:
			log.WarnContext(ctx, "csv export stopped at the row cap", "export", e.name, "rows", rows, "request_id", reqID)
		}
		// nil ends the body normally; an error makes fasthttp drop the
		// connection without the final chunk.
		pw.CloseWithError(err)
	}()

	c.Set(fiber.HeaderContentType, mimeCSV+"; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-%s.csv"`, e.name, time.Now().UTC().Format("2006-01-02")))
	c.Set("X-Export-Row-Limit", strconv.Itoa(maxRows))
	c.Context().SetBodyStream(&exportBody{r: pr, conn: c.Context().Conn(), writeTimeout: s.d.WriteTimeout, cancel: cancel}, -1)
	return nil
}

// writeCSVPages writes the first page, then the following ones, flushing
// after each page so rows leave as they are read. truncated reports that
// the cap was reached with rows left.
func writeCSVPages[T proto.Message](ctx context.Context, w io.Writer, e csvExport[T], pager *sizedpages.Pager[T], page []T, next string, maxRows int, callTimeout time.Duration) (rows int, truncated bool, err error) {
	cw := e.newW(w)
	for {
		if len(page) > maxRows-rows {
			page, next = page[:maxRows-rows], "more"
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
		if rows >= maxRows {
			return rows, true, nil
		}
		pctx, cancel := context.WithTimeout(ctx, callTimeout)
		page, next, err = pager.Next(pctx, next, maxRows-rows)
		cancel()
		if err != nil {
			return rows, false, err
		}
	}
}

// exportBody is the response body of an export. fasthttp reads it while
// writing the response, on the connection's goroutine.
type exportBody struct {
	r            *io.PipeReader
	conn         net.Conn
	writeTimeout time.Duration
	cancel       context.CancelFunc
}

// Read hands fasthttp the next bytes. The server's write timeout is set
// once per response; an export is written while it is produced, so each
// chunk gets the full timeout instead: a stalled client is still cut off,
// a long export is not.
func (b *exportBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.writeTimeout > 0 && b.conn != nil {
		_ = b.conn.SetWriteDeadline(time.Now().Add(b.writeTimeout))
	}
	return n, err
}

// Close is called by fasthttp when the response is done or the client is
// gone; it stops the producer.
func (b *exportBody) Close() error {
	b.cancel()
	return b.r.Close()
}
