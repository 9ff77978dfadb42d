package api

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/gateway/internal/csvexport"
	"github.com/meterflow/meterflow/platform/callauth"
)

// mimeCSV is what an Accept header names to ask for a CSV export.
const mimeCSV = "text/csv"

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

// sendCSV answers with the export of a listing from cursor on
// (csvexport.Send: the first page read before anything is sent, so its
// errors are problem documents; the rest streamed, at most Deps.CSVMaxRows
// rows, a failure midway cutting the connection).
func sendCSV[T proto.Message](s *Server, c *fiber.Ctx, e csvexport.Export[T], cursor string) error {
	first, cancel := s.callCtx(c, 0)
	defer cancel()
	// The stream outlives the handler and Fiber's context (which is reused
	// for the next request once the handler returns): copy what the calls
	// need, and keep the request's trace as the parent of their spans.
	stream := context.WithoutCancel(c.UserContext())
	if p, ok := c.Locals(localPrincipal).(callauth.Principal); ok && p.Token != "" {
		stream = callauth.WithUserToken(stream, p.Token)
	}
	reqID := requestID(c)
	stream = metadata.AppendToOutgoingContext(stream, "x-request-id", reqID)
	return csvexport.Send(c, first, stream, e, csvexport.Options{
		Cursor: cursor, MaxRows: s.d.CSVMaxRows, PageTimeout: s.d.CallTimeout,
		Log: s.d.Log, LogAttrs: []any{"request_id", reqID},
	})
}
