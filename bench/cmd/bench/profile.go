package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// profileFailures re-runs the gateway side of every failed row for one
// phase while the gateway's /debug/pprof/profile records, and keeps the
// top entries for the report.
func (b *bench) profileFailures(ctx context.Context) {
	dir := filepath.Join(b.cfg.StateDir, "profiles", b.rep.Started.Format("20060102-150405"))
	done := map[string]bool{}
	for _, r := range b.rep.Rows {
		s, ok := b.profSides[r.Key]
		if !ok || r.Pass == nil || *r.Pass || done[s.name] || ctx.Err() != nil {
			continue
		}
		done[s.name] = true
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.rep.Notes = append(b.rep.Notes, "profile: "+err.Error())
			return
		}
		file := filepath.Join(dir, r.Key+".pb.gz")
		b.logf("profiling the gateway during %q (%v)", s.name, b.o.duration)
		secs := max(1, int(b.o.duration.Seconds()))
		var wg sync.WaitGroup
		var perr error
		wg.Go(func() {
			perr = fetchProfile(ctx, "http://"+b.cfg.AdminAddr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), file)
		})
		pgCtx, pgStop := context.WithCancel(ctx)
		var pgText string
		wg.Go(func() { pgText = pgActivity(pgCtx, b.cfg.DatabaseURL("postgres")) })
		time.Sleep(100 * time.Millisecond) // the profile starts first
		s.run(ctx, time.Duration(secs)*time.Second+200*time.Millisecond)
		pgStop()
		wg.Wait()
		if perr != nil {
			b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("profile of %s: %v", r.Key, perr))
			continue
		}
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=20",
			filepath.Join(b.o.root, "bin", "gateway"), file).CombinedOutput()
		if err != nil {
			b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("pprof of %s: %v", r.Key, err))
			continue
		}
		rel, err := filepath.Rel(b.o.root, file)
		if err != nil {
			rel = file
		}
		b.rep.Profiles = append(b.rep.Profiles, profileOut{Key: r.Key, Side: s.name, File: rel, Top: trimPprof(string(out)), PG: pgText})
	}
}

// trimPprof drops pprof's file and build-id header lines.
func trimPprof(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func fetchProfile(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
