package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgActivity samples pg_stat_activity of the bench databases (named
// prefix…) every 50 ms until ctx ends, and summarises, per database, how many connections the
// services held, how many were busy, and what the busy ones waited on. The
// services expose no pprof; this shows where their time goes in Postgres.
func pgActivity(ctx context.Context, url, prefix string) string {
	like := strings.NewReplacer(`\`, `\\`, `_`, `\_`, `%`, `\%`).Replace(prefix) + "%"
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return "pg_stat_activity: " + err.Error()
	}
	defer conn.Close(context.Background())
	type agg struct {
		samples, conns, busy int
		waits                map[string]int
	}
	dbs := map[string]*agg{}
	samples := 0
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		rows, err := conn.Query(context.Background(), `SELECT datname, coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, '')
FROM pg_stat_activity WHERE datname LIKE $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`, like)
		if err != nil {
			return "pg_stat_activity: " + err.Error()
		}
		samples++
		for rows.Next() {
			var db, state, wt, we string
			if err := rows.Scan(&db, &state, &wt, &we); err != nil {
				rows.Close()
				return "pg_stat_activity: " + err.Error()
			}
			a := dbs[db]
			if a == nil {
				a = &agg{waits: map[string]int{}}
				dbs[db] = a
			}
			a.conns++
			if state == "idle" {
				continue
			}
			a.busy++
			w := "running (no wait)"
			if wt != "" {
				w = wt + ":" + we
			}
			if state == "idle in transaction" {
				w = "idle in transaction (client's turn)"
			}
			a.waits[w]++
		}
		rows.Close()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	if samples == 0 {
		return ""
	}
	names := make([]string, 0, len(dbs))
	for n := range dbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "pg_stat_activity, %d samples every 50 ms (client backends of the bench databases):\n", samples)
	for _, n := range names {
		a := dbs[n]
		type kv struct {
			k string
			v int
		}
		var ws []kv
		for k, v := range a.waits {
			ws = append(ws, kv{k, v})
		}
		sort.Slice(ws, func(i, j int) bool { return ws[i].v > ws[j].v || ws[i].v == ws[j].v && ws[i].k < ws[j].k })
		var parts []string
		for i, w := range ws {
			if i == 6 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %.0f%%", w.k, 100*float64(w.v)/float64(max(a.busy, 1))))
		}
		fmt.Fprintf(&b, "  %-28s connections %.1f, busy %.1f; busy on: %s\n", n,
			float64(a.conns)/float64(samples), float64(a.busy)/float64(samples), strings.Join(parts, ", "))
	}
	return b.String()
}
