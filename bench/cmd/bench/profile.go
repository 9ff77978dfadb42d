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

// profiled are the processes profiled together, with the binary each
// profile is read against.
var profiled = []string{"gateway", "identity", "wallet", "workflow"}

// profileFailures re-runs the gateway side of every failed row (and of
// every scenario named by -profile-scenarios) for one phase while every
// process's /debug/pprof/profile records, and keeps the top entries of
// each process that was busy for the report.
func (b *bench) profileFailures(ctx context.Context) {
	dir := filepath.Join(b.cfg.StateDir, "profiles", b.rep.Started.Format("20060102-150405"))
	done := map[string]bool{}
	for _, r := range b.rep.Rows {
		s, ok := b.profSides[r.Key]
		forced := b.o.profileAlways[r.Key]
		if !ok || r.Pass == nil || (*r.Pass && !forced) || done[s.name] || ctx.Err() != nil {
			continue
		}
		done[s.name] = true
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.rep.Notes = append(b.rep.Notes, "profile: "+err.Error())
			return
		}
		b.logf("profiling every process during %q (%v)", s.name, b.o.duration)
		secs := max(1, int(b.o.duration.Seconds()))
		var wg sync.WaitGroup
		perr := make([]error, len(profiled))
		files := make([]string, len(profiled))
		for i, proc := range profiled {
			addr := b.cfg.AdminAddr
			if proc != "gateway" {
				addr = b.cfg.MetricsAddrs[proc]
			}
			files[i] = filepath.Join(dir, r.Key+"."+proc+".pb.gz")
			wg.Go(func() {
				perr[i] = fetchProfile(ctx, "http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), files[i])
			})
		}
		pgCtx, pgStop := context.WithCancel(ctx)
		var pgText string
		wg.Go(func() { pgText = pgActivity(pgCtx, b.cfg.DatabaseURL("postgres"), b.cfg.DBName("")) })
		time.Sleep(100 * time.Millisecond) // the profiles start first
		s.run(ctx, time.Duration(secs)*time.Second+200*time.Millisecond)
		pgStop()
		wg.Wait()
		for i, proc := range profiled {
			if perr[i] != nil {
				b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("profile of %s in %s: %v", proc, r.Key, perr[i]))
				continue
			}
			out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25",
				filepath.Join(b.o.root, "bin", proc), files[i]).CombinedOutput()
			if err != nil {
				b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("pprof of %s in %s: %v", proc, r.Key, err))
				continue
			}
			if strings.Contains(string(out), "Total samples = 0 ") || !strings.Contains(string(out), "flat%") {
				continue // idle during this scenario
			}
			rel, err := filepath.Rel(b.o.root, files[i])
			if err != nil {
				rel = files[i]
			}
			p := profileOut{Key: r.Key, Side: s.name, Process: proc, File: rel, Top: trimPprof(string(out))}
			if i == 0 {
				p.PG = pgText
			}
			b.rep.Profiles = append(b.rep.Profiles, p)
		}
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
