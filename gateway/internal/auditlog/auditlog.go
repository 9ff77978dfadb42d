// Package auditlog merges the audit logs of several services into one list,
// newest first, with an opaque cursor that continues exactly where a page
// ended. It knows nothing of HTTP; the adapters to the services' gRPC
// clients are in sources.go, so the JSON API and the admin console can share
// the merge.
//
// Every source must list its events ordered by (created_at desc, id desc),
// the order of the services' audit_events indexes: the merge uses the same
// key, so each source's events come out in the source's own order and the
// merged list is sorted too.
package auditlog

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// MaxPage is the largest page a source is asked for, and the largest merged
// page: the services refuse limits above 200.
const MaxPage = 200

// ErrInvalidCursor means the cursor was not made by Merge for the same
// sources and scope.
var ErrInvalidCursor = errors.New("auditlog: invalid cursor")

// ErrInvalidLimit means the page size is outside 1..MaxPage.
var ErrInvalidLimit = errors.New("auditlog: limit must be from 1 to 200")

// Event is one audit record of any source.
type Event struct {
	// Source names the service the event comes from.
	Source     string
	ID         string
	ActorID    string
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	// Before and After are JSON snapshots; empty when the service has none.
	Before    []byte
	After     []byte
	CreatedAt time.Time
}

// FetchFunc reads one page of a source, newest first: at most limit events
// after the position cursor ("" for the newest), and the cursor of the next
// page ("" when there is none).
type FetchFunc func(ctx context.Context, cursor string, limit int) (events []Event, next string, err error)

// Source is one service's audit log.
type Source struct {
	// Name identifies the source in Event.Source and in cursors; it must be
	// unique among the merged sources.
	Name  string
	Fetch FetchFunc
}

// Page is one page of the merged log.
type Page struct {
	Events []Event
	// NextCursor continues after the last event; "" on the last page.
	NextCursor string
}

// position is where a source's next unread event is. The services' cursors
// cannot be made from an event, so a position is the start of a page
// (Cursor, the source's own opaque cursor); reading resumes there and drops
// the events that do not sort after the last event shown (the cursor's
// key). The merged pages show exactly a prefix of the merged order, so any
// event of any source that sorts before that key was either shown already
// or written since: dropping by key rather than by count keeps the walk
// exact when new events arrive at the head of a log between two pages.
// Skip, how many events of that page were shown, only sizes the read.
type position struct {
	Cursor string `json:"c,omitempty"`
	Skip   int    `json:"s,omitempty"`
	Done   bool   `json:"d,omitempty"`
}

// key identifies the last event shown.
type key struct {
	T      int64  `json:"t"`
	ID     string `json:"i"`
	Source string `json:"s"`
}

// shows reports whether e sorts after k, that is, is not shown yet.
func (k *key) shows(e Event) bool {
	if k == nil {
		return true
	}
	return Before(Event{CreatedAt: time.Unix(0, k.T), ID: k.ID, Source: k.Source}, e)
}

// cursorJSON is the merged cursor: the scope's fingerprint, the last event
// shown, and one position per source.
type cursorJSON struct {
	V     int                 `json:"v"`
	Scope string              `json:"f,omitempty"`
	Last  *key                `json:"k"`
	Pos   map[string]position `json:"p"`
}

const cursorVersion = 1

// Before reports whether a sorts before b in the merged order: newer first,
// then the larger id, then the source name (ids of different services never
// collide in practice; the name only makes the order total). Ids compare as
// strings: for the lower-case UUIDs the services return, that is Postgres'
// uuid order.
func Before(a, b Event) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(a.ID, b.ID); c != 0 {
		return c > 0
	}
	return a.Source > b.Source
}

// Merge returns the limit newest events of sources after cursor ("" for the
// first page). scope names the filters the sources were built with (for
// example the target id): a cursor made under another scope or for other
// sources is refused with ErrInvalidCursor instead of silently skipping or
// repeating events. Sources are read concurrently; a source's error is
// returned as is, wrapped with its name.
func Merge(ctx context.Context, sources []Source, scope, cursor string, limit int) (Page, error) {
	if limit < 1 || limit > MaxPage {
		return Page{}, ErrInvalidLimit
	}
	last, pos, err := decodeCursor(cursor, sources, scope)
	if err != nil {
		return Page{}, err
	}
	// Each source is read up to limit+1 events past its position: at most
	// limit of them are shown, so one left over tells whether a next page
	// exists without an extra round trip, and a source left with unread
	// events always has a valid position to continue from.
	bufs := make([][]buffered, len(sources))
	g, gctx := errgroup.WithContext(ctx)
	for i, src := range sources {
		if pos[src.Name].Done {
			continue
		}
		g.Go(func() error {
			b, err := fill(gctx, src, pos[src.Name], last, limit+1)
			if err != nil {
				return fmt.Errorf("audit log of %s: %w", src.Name, err)
			}
			bufs[i] = b
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Page{}, err
	}

	taken := make([]int, len(sources))
	out := make([]Event, 0, limit)
	for len(out) < limit {
		best := -1
		for i, b := range bufs {
			if taken[i] < len(b) && (best < 0 || Before(b[taken[i]].ev, bufs[best][taken[best]].ev)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		out = append(out, bufs[best][taken[best]].ev)
		taken[best]++
	}

	if len(out) > 0 {
		e := out[len(out)-1]
		last = &key{T: e.CreatedAt.UnixNano(), ID: e.ID, Source: e.Source}
	}
	next := cursorJSON{V: cursorVersion, Scope: fingerprint(scope), Last: last, Pos: make(map[string]position, len(sources))}
	more := false
	for i, src := range sources {
		switch p := pos[src.Name]; {
		case p.Done:
			next.Pos[src.Name] = p
		case taken[i] == 0 && len(bufs[i]) > 0:
			// Nothing shown from it on this page: it resumes where it was.
			next.Pos[src.Name] = p
			more = true
		case taken[i] < len(bufs[i]):
			next.Pos[src.Name] = bufs[i][taken[i]].at
			more = true
		default:
			// Read to its end: fill stops early only at the end of a source.
			next.Pos[src.Name] = position{Done: true}
		}
	}
	if !more {
		return Page{Events: out}, nil
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return Page{}, fmt.Errorf("auditlog: encode cursor: %w", err)
	}
	return Page{Events: out, NextCursor: base64.RawURLEncoding.EncodeToString(raw)}, nil
}

// buffered is an event read ahead, with its own position.
type buffered struct {
	ev Event
	at position
}

// maxFetches bounds the reads of one source for one page. Two suffice
// unless thousands of events were written at the head of the log since the
// cursor was made, or the cursor was tampered with.
const maxFetches = 10

// fill reads want events of src from p on, or fewer when the source ends.
func fill(ctx context.Context, src Source, p position, last *key, want int) ([]buffered, error) {
	out := make([]buffered, 0, want)
	cur, hint := p.Cursor, p.Skip
	for fetches := 0; len(out) < want; fetches++ {
		if fetches == maxFetches {
			return nil, ErrInvalidCursor
		}
		n := min(want-len(out)+hint, MaxPage)
		events, next, err := src.Fetch(ctx, cur, n)
		if err != nil {
			return nil, err
		}
		for i, ev := range events {
			if len(out) == want {
				break
			}
			ev.Source = src.Name
			if !last.shows(ev) {
				continue
			}
			out = append(out, buffered{ev: ev, at: position{Cursor: cur, Skip: i}})
		}
		hint = max(hint-len(events), 0)
		// An empty page ends the source even with a next cursor, so a
		// misbehaving source cannot keep the merge looping.
		if next == "" || len(events) == 0 {
			break
		}
		cur = next
	}
	return out, nil
}

// fingerprint keeps cursors short whatever the scope holds.
func fingerprint(scope string) string {
	if scope == "" {
		return ""
	}
	h := sha256.Sum256([]byte(scope))
	return hex.EncodeToString(h[:8])
}

func decodeCursor(s string, sources []Source, scope string) (*key, map[string]position, error) {
	pos := make(map[string]position, len(sources))
	if s == "" {
		return nil, pos, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, nil, ErrInvalidCursor
	}
	var c cursorJSON
	if err := json.Unmarshal(raw, &c); err != nil || c.V != cursorVersion || c.Scope != fingerprint(scope) ||
		c.Last == nil || len(c.Pos) != len(sources) {
		return nil, nil, ErrInvalidCursor
	}
	for _, src := range sources {
		p, ok := c.Pos[src.Name]
		if !ok || p.Skip < 0 || p.Skip >= MaxPage || (p.Done && p != (position{Done: true})) {
			return nil, nil, ErrInvalidCursor
		}
		pos[src.Name] = p
	}
	return c.Last, pos, nil
}
