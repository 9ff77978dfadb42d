package auditlog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLog is an in-memory audit log with keyset cursors like the services'
// (the key of the last event of the page), so events written at its head
// between two pages behave as they do in Postgres.
type fakeLog struct {
	mu     sync.Mutex
	events []Event // sorted newest first
	// emptyTail mimics the workflow service: a next cursor whenever the
	// page is full, even when nothing follows.
	emptyTail bool
	// maxPage caps the page size below what is asked.
	maxPage int
	err     error
	fetches int
}

func (f *fakeLog) add(evs ...Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, evs...)
	slices.SortFunc(f.events, func(a, b Event) int {
		if Before(a, b) {
			return -1
		}
		return 1
	})
}

type fakeCursor struct {
	T  int64  `json:"t"`
	ID string `json:"id"`
}

func (f *fakeLog) fetch(_ context.Context, cursor string, limit int) ([]Event, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	if f.err != nil {
		return nil, "", f.err
	}
	if limit < 1 || limit > MaxPage {
		return nil, "", fmt.Errorf("limit %d out of range", limit)
	}
	if f.maxPage > 0 {
		limit = min(limit, f.maxPage)
	}
	start := 0
	if cursor != "" {
		var c fakeCursor
		if err := json.Unmarshal([]byte(cursor), &c); err != nil {
			return nil, "", err
		}
		start = len(f.events)
		for i, e := range f.events {
			if t := e.CreatedAt.UnixNano(); t < c.T || (t == c.T && e.ID < c.ID) {
				start = i
				break
			}
		}
	}
	end := min(start+limit, len(f.events))
	page := slices.Clone(f.events[start:end])
	for i := range page {
		page[i].Source = "" // the merge sets it
	}
	next := ""
	if len(page) > 0 && (end < len(f.events) || (f.emptyTail && len(page) == limit)) {
		last := page[len(page)-1]
		b, _ := json.Marshal(fakeCursor{T: last.CreatedAt.UnixNano(), ID: last.ID})
		next = string(b)
	}
	return page, next, nil
}

func (f *fakeLog) source(name string) Source { return Source{Name: name, Fetch: f.fetch} }

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// events makes n events of source name; timestamps collide often, inside
// the source and across sources, to exercise the id tie-break.
func events(r *rand.Rand, name string, n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{
			Source:    name,
			ID:        fmt.Sprintf("%08x-0000-4000-8000-%012x", r.Uint32(), i),
			Action:    name + ".change",
			CreatedAt: t0.Add(time.Duration(r.IntN(n/2+1)) * time.Microsecond),
		}
	}
	return out
}

func sorted(evs []Event) []Event {
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b Event) int {
		if Before(a, b) {
			return -1
		}
		return 1
	})
	return out
}

func ids(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Source + "/" + e.ID
	}
	return out
}

// walk reads every page; limitFor gives each page's size.
func walk(t *testing.T, sources []Source, scope string, limitFor func(page int) int) []Event {
	t.Helper()
	var got []Event
	cursor := ""
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatal("the walk does not end")
		}
		limit := limitFor(page)
		p, err := Merge(context.Background(), sources, scope, cursor, limit)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(p.Events) > limit {
			t.Fatalf("page %d has %d events, limit %d", page, len(p.Events), limit)
		}
		if p.NextCursor != "" && len(p.Events) < limit {
			t.Fatalf("page %d: %d events, fewer than %d, yet a next cursor", page, len(p.Events), limit)
		}
		got = append(got, p.Events...)
		if p.NextCursor == "" {
			return got
		}
		cursor = p.NextCursor
	}
}

func TestMergeWalksEveryEventOnceInOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sizes     [3]int
		emptyTail bool
		maxPage   int
		limit     func(page int) int
	}{
		{"limit 1", [3]int{7, 0, 5}, false, 0, func(int) int { return 1 }},
		{"limit 2, trailing empty pages", [3]int{9, 4, 6}, true, 0, func(int) int { return 2 }},
		{"limit 3, sources capped at 2 per page", [3]int{10, 11, 12}, false, 2, func(int) int { return 3 }},
		{"limit 50, one busy source", [3]int{400, 3, 1}, false, 0, func(int) int { return 50 }},
		{"limit 200", [3]int{250, 260, 5}, true, 0, func(int) int { return 200 }},
		{"limit changes between pages", [3]int{120, 90, 70}, false, 0, func(p int) int { return []int{1, 200, 7, 50, 3, 199}[p%6] }},
		{"all empty", [3]int{0, 0, 0}, true, 0, func(int) int { return 50 }},
		{"exactly one page", [3]int{2, 2, 1}, true, 0, func(int) int { return 5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(len(tt.name)), 7))
			var all []Event
			var sources []Source
			for i, name := range SourceNames {
				f := &fakeLog{emptyTail: tt.emptyTail, maxPage: tt.maxPage}
				evs := events(r, name, tt.sizes[i])
				f.add(evs...)
				all = append(all, evs...)
				sources = append(sources, f.source(name))
			}
			got := walk(t, sources, "", tt.limit)
			if want := ids(sorted(all)); !slices.Equal(ids(got), want) {
				t.Fatalf("walk gave %d events:\n%v\nwant %d:\n%v", len(got), ids(got), len(want), want)
			}
		})
	}
}

// TestMergeIgnoresEventsWrittenDuringTheWalk: events written at the head of
// a log after the first page neither shift nor repeat the rest of the walk.
func TestMergeIgnoresEventsWrittenDuringTheWalk(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	logs := map[string]*fakeLog{}
	var all []Event
	var sources []Source
	for _, name := range SourceNames {
		f := &fakeLog{}
		evs := events(r, name, 9)
		f.add(evs...)
		all = append(all, evs...)
		logs[name] = f
		sources = append(sources, f.source(name))
	}
	var got []Event
	cursor := ""
	for page := 0; ; page++ {
		p, err := Merge(context.Background(), sources, "", cursor, 4)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Events...)
		// Newer events arrive in every log after every page.
		for _, name := range SourceNames {
			logs[name].add(Event{ID: fmt.Sprintf("ffffffff-0000-4000-8000-%012x", page), CreatedAt: t0.Add(time.Hour + time.Duration(page)*time.Second)})
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if want := ids(sorted(all)); !slices.Equal(ids(got), want) {
		t.Fatalf("walk gave\n%v\nwant\n%v", ids(got), want)
	}
}

func TestMergeReadsFewPages(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	var logs []*fakeLog
	var sources []Source
	for _, name := range SourceNames {
		f := &fakeLog{}
		f.add(events(r, name, 500)...)
		logs = append(logs, f)
		sources = append(sources, f.source(name))
	}
	pages := 0
	walk(t, sources, "", func(int) int { pages++; return 50 })
	for i, f := range logs {
		// One read per page and source, plus the odd second read when a
		// page's events straddle two of the source's pages.
		if f.fetches > 2*pages {
			t.Errorf("%s: %d reads for %d pages", SourceNames[i], f.fetches, pages)
		}
	}
}

func TestMergeRefusesForeignCursors(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	var sources []Source
	for _, name := range SourceNames {
		f := &fakeLog{}
		f.add(events(r, name, 10)...)
		sources = append(sources, f.source(name))
	}
	ctx := context.Background()
	p, err := Merge(ctx, sources, "target=u1", "", 5)
	if err != nil || p.NextCursor == "" {
		t.Fatalf("first page: %v %+v", err, p)
	}
	forge := func(c cursorJSON) string {
		b, _ := json.Marshal(c)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	var good cursorJSON
	raw, _ := base64.RawURLEncoding.DecodeString(p.NextCursor)
	if err := json.Unmarshal(raw, &good); err != nil {
		t.Fatal(err)
	}
	withPos := func(name string, pos position) string {
		c := cursorJSON{V: good.V, Scope: good.Scope, Last: good.Last, Pos: map[string]position{}}
		for k, v := range good.Pos {
			c.Pos[k] = v
		}
		c.Pos[name] = pos
		return forge(c)
	}
	tests := []struct {
		name    string
		sources []Source
		scope   string
		cursor  string
	}{
		{"not base64", sources, "target=u1", "%%%"},
		{"not JSON", sources, "target=u1", base64.RawURLEncoding.EncodeToString([]byte("nope"))},
		{"other scope", sources, "target=u2", p.NextCursor},
		{"no scope", sources, "", p.NextCursor},
		{"fewer sources", sources[:2], "target=u1", p.NextCursor},
		{"other version", sources, "target=u1", forge(cursorJSON{V: 2, Scope: good.Scope, Last: good.Last, Pos: good.Pos})},
		{"no last event", sources, "target=u1", forge(cursorJSON{V: good.V, Scope: good.Scope, Pos: good.Pos})},
		{"negative skip", sources, "target=u1", withPos("wallet", position{Skip: -1})},
		{"skip too large", sources, "target=u1", withPos("wallet", position{Skip: MaxPage})},
		{"done with a cursor", sources, "target=u1", withPos("wallet", position{Done: true, Cursor: "x"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Merge(ctx, tt.sources, tt.scope, tt.cursor, 5); !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("err = %v, want ErrInvalidCursor", err)
			}
		})
	}
	// The right scope continues.
	if _, err := Merge(ctx, sources, "target=u1", p.NextCursor, 5); err != nil {
		t.Fatal(err)
	}
}

func TestMergeLimits(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1, MaxPage + 1} {
		if _, err := Merge(context.Background(), nil, "", "", n); !errors.Is(err, ErrInvalidLimit) {
			t.Errorf("limit %d: %v", n, err)
		}
	}
	p, err := Merge(context.Background(), nil, "", "", 10)
	if err != nil || len(p.Events) != 0 || p.NextCursor != "" {
		t.Fatalf("no sources: %+v %v", p, err)
	}
}

func TestMergeReturnsSourceErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("wallet down")
	ok := &fakeLog{}
	ok.add(Event{ID: "a", CreatedAt: t0})
	bad := &fakeLog{err: boom}
	_, err := Merge(context.Background(), []Source{ok.source("identity"), bad.source("wallet")}, "", "", 10)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "wallet") {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkMerge(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	var sources []Source
	for _, name := range SourceNames {
		f := &fakeLog{}
		f.add(events(r, name, 1000)...)
		sources = append(sources, f.source(name))
	}
	for b.Loop() {
		if _, err := Merge(context.Background(), sources, "", "", 50); err != nil {
			b.Fatal(err)
		}
	}
}
