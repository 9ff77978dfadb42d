// Package sizedpages walks a service listing in pages sized by bytes, not
// by a fixed row count, for the CSV exports of the API and the console.
//
// A gRPC message is capped at grpcservice.MaxMessageBytes (4 MiB) in both
// directions. A fixed page of 200 rows breaks as soon as rows are large (a
// run keeps its input and output): the service or gRPC refuses the answer
// with ResourceExhausted and the export fails. A Pager instead aims each
// page at TargetBytes from the size of the rows it has seen, and halves the
// page when one is refused for its size anyway, down to a single row; it
// grows back as soon as the rows get smaller. It relies on nothing the
// services do to keep rows small.
package sizedpages

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// MaxRows is the largest page the services answer (their list maximum).
const MaxRows = 200

// TargetBytes is the encoded size a page aims at: a quarter of the message
// cap, so the next rows may be several times larger than the ones measured
// before a page is refused.
const TargetBytes = grpcservice.MaxMessageBytes / 4

// Fetch reads at most limit items after cursor ("" for the first page) and
// returns the cursor of the next page ("" at the end).
type Fetch[T proto.Message] func(ctx context.Context, cursor string, limit int32) (items []T, next string, err error)

// Pager reads the pages of one walk. It is not safe for concurrent use.
type Pager[T proto.Message] struct {
	fetch Fetch[T]
	// rows is the size of the next page.
	rows int32
}

// New returns a pager over fetch whose first page asks for MaxRows.
func New[T proto.Message](fetch Fetch[T]) *Pager[T] {
	return &Pager[T]{fetch: fetch, rows: MaxRows}
}

// Next reads the page after cursor, at most want rows (want < 1: no bound
// but the pager's own). A page refused for its size is asked again with
// half the rows; a single row over the cap is an error (TooLarge reports it).
func (p *Pager[T]) Next(ctx context.Context, cursor string, want int) ([]T, string, error) {
	for {
		limit := p.rows
		if want > 0 && want < int(limit) {
			limit = int32(want)
		}
		items, next, err := p.fetch(ctx, cursor, limit)
		if err != nil {
			if TooLarge(err) && limit > 1 {
				p.rows = limit / 2
				continue
			}
			return nil, "", err
		}
		p.measure(items)
		return items, next, nil
	}
}

// PageRows is the size of the page Next asks for next (before want).
func (p *Pager[T]) PageRows() int { return int(p.rows) }

// measure sizes the next page from the rows just read: as many rows of
// their average encoded size as fit in TargetBytes, within 1..MaxRows.
func (p *Pager[T]) measure(items []T) {
	if len(items) == 0 {
		return
	}
	total := 0
	for _, it := range items {
		total += proto.Size(it)
	}
	per := max(1, total/len(items))
	p.rows = int32(min(MaxRows, max(1, TargetBytes/per)))
}

// TooLarge reports whether err is a refusal for size: a ResourceExhausted
// that is not our own rate limit (rpcerr.Throttled). gRPC answers that for
// a message over the cap, whether the service failed to send it or the
// gateway refused to receive it.
func TooLarge(err error) bool {
	return status.Code(err) == codes.ResourceExhausted && rpcerr.Reason(err) != rpcerr.RateLimited
}
