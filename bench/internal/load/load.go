// Package load drives closed-loop load: a fixed number of callers, each
// sending its next request as soon as the previous one answered. HTTP load
// goes through vegeta (rate 0 = as fast as the workers go, workers = max
// workers = connections); non-HTTP work (the raw Postgres limit) goes
// through Func with the same accounting. HTTPRate is the open-loop
// counterpart: requests start at a fixed rate whether or not earlier ones
// have answered, so latency is measured at that offered load.
package load

import (
	"context"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Sample is the result of one phase (one side of one round).
type Sample struct {
	Name      string         `json:"name"`
	Callers   int            `json:"callers"`
	Elapsed   time.Duration  `json:"elapsed_ns"`
	OK        int            `json:"ok"`
	Errors    int            `json:"errors"`
	Codes     map[string]int `json:"codes"`
	ErrorText map[string]int `json:"error_samples,omitempty"`
	// Window is the steady-state part of the phase (its last 80%) and
	// WindowOK the successes that ended inside it: throughput is counted
	// there, so neither the ramp-up nor the drain of the last in-flight
	// requests (up to one latency after the phase) bias it.
	Window    time.Duration   `json:"window_ns"`
	WindowOK  int             `json:"window_ok"`
	latencies []time.Duration // every request's latency, errors included
}

// window returns the steady-state window [from, to) of a phase of length d,
// relative to its start.
func window(d time.Duration) (from, to time.Duration) { return d / 5, d }

// Stats summarise one or more samples of the same side.
type Stats struct {
	Requests   int     `json:"requests"`
	OK         int     `json:"ok"`
	Errors     int     `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"ok_per_second"` // over the steady-state windows

	P50Ms     float64        `json:"p50_ms"`
	P90Ms     float64        `json:"p90_ms"`
	P99Ms     float64        `json:"p99_ms"`
	MaxMs     float64        `json:"max_ms"`
	Codes     map[string]int `json:"codes"`
	ErrorText map[string]int `json:"error_samples,omitempty"`
	Rounds    []RoundStats   `json:"rounds"`
}

// RoundStats is one phase's throughput and tail, to show the spread between rounds.
type RoundStats struct {
	Throughput float64 `json:"ok_per_second"`
	P99Ms      float64 `json:"p99_ms"`
	Errors     int     `json:"errors"`
}

// Summarise merges samples: throughput is all successes over all elapsed
// time, percentiles are over every latency of every sample.
func Summarise(samples []Sample) Stats {
	st := Stats{Codes: map[string]int{}, ErrorText: map[string]int{}}
	var all []time.Duration
	var elapsed, win time.Duration
	winOK := 0
	for _, s := range samples {
		win += s.Window
		winOK += s.WindowOK
		st.OK += s.OK
		st.Errors += s.Errors
		elapsed += s.Elapsed
		all = append(all, s.latencies...)
		for k, v := range s.Codes {
			st.Codes[k] += v
		}
		for k, v := range s.ErrorText {
			if len(st.ErrorText) < 5 || st.ErrorText[k] > 0 {
				st.ErrorText[k] += v
			}
		}
		st.Rounds = append(st.Rounds, RoundStats{
			Throughput: perSecond(s.WindowOK, s.Window),
			P99Ms:      ms(percentile(s.latencies, 0.99)),
			Errors:     s.Errors,
		})
	}
	st.Requests = st.OK + st.Errors
	st.Seconds = elapsed.Seconds()
	st.Throughput = perSecond(winOK, win)
	st.P50Ms = ms(percentile(all, 0.50))
	st.P90Ms = ms(percentile(all, 0.90))
	st.P99Ms = ms(percentile(all, 0.99))
	if len(all) > 0 {
		st.MaxMs = ms(slices.Max(all))
	}
	if len(st.ErrorText) == 0 {
		st.ErrorText = nil
	}
	return st
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// percentile is the nearest-rank percentile (exact, every sample kept).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p*float64(len(s)))) - 1
	rank = max(0, min(rank, len(s)-1))
	return s[rank]
}

// HTTP runs a closed loop of callers through vegeta for d. ok decides
// whether a status code is the expected success. Each caller owns one
// keep-alive connection.
func HTTP(ctx context.Context, name string, callers int, d time.Duration, tr vegeta.Targeter, ok func(code int) bool) Sample {
	return attack(ctx, name, callers, callers, vegeta.ConstantPacer{}, d, tr, ok)
}

// HTTPRate starts perSecond requests a second for d (open loop), with up to
// maxInFlight requests (and connections) at once; when the target cannot
// keep up, the requests in flight pile up to that bound and the achieved
// rate falls below the offered one. Sample.Callers is maxInFlight.
func HTTPRate(ctx context.Context, name string, perSecond, maxInFlight int, d time.Duration, tr vegeta.Targeter, ok func(code int) bool) Sample {
	return attack(ctx, name, min(perSecond/100+1, maxInFlight), maxInFlight,
		vegeta.ConstantPacer{Freq: perSecond, Per: time.Second}, d, tr, ok)
}

func attack(ctx context.Context, name string, workers, maxWorkers int, pacer vegeta.Pacer, d time.Duration, tr vegeta.Targeter, ok func(code int) bool) Sample {
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(workers)),
		vegeta.MaxWorkers(uint64(maxWorkers)),
		vegeta.Connections(maxWorkers),
		vegeta.MaxConnections(maxWorkers),
		vegeta.KeepAlive(true),
		vegeta.HTTP2(false),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.Timeout(60*time.Second),
		vegeta.MaxBody(0),
	)
	s := Sample{Name: name, Callers: maxWorkers, Codes: map[string]int{}, ErrorText: map[string]int{}}
	begin := time.Now()
	results := atk.Attack(tr, pacer, d, name)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var end time.Time
	from, to := window(d)
	s.Window = to - from
	for r := range results {
		s.latencies = append(s.latencies, r.Latency)
		s.Codes[strconv.Itoa(int(r.Code))]++
		if r.End().After(end) {
			end = r.End()
		}
		if r.Error == "" && ok(int(r.Code)) {
			s.OK++
			if at := r.End().Sub(begin); at >= from && at < to {
				s.WindowOK++
			}
			continue
		}
		s.Errors++
		msg := r.Error
		if msg == "" {
			msg = "unexpected status " + strconv.Itoa(int(r.Code))
		}
		if len(s.ErrorText) < 5 || s.ErrorText[msg] > 0 {
			s.ErrorText[msg]++
		}
	}
	if end.IsZero() {
		end = time.Now()
	}
	s.Elapsed = end.Sub(begin)
	return s
}

// Func runs a closed loop of callers, each calling fn until d has passed.
func Func(ctx context.Context, name string, callers int, d time.Duration, fn func(ctx context.Context) error) Sample {
	s := Sample{Name: name, Callers: callers, Codes: map[string]int{}, ErrorText: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	begin := time.Now()
	deadline := begin.Add(d)
	from, to := window(d)
	s.Window = to - from
	for range callers {
		wg.Go(func() {
			var lat []time.Duration
			var okN, errN, winN int
			errs := map[string]int{}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				err := fn(ctx)
				lat = append(lat, time.Since(t))
				if err != nil {
					errN++
					errs[err.Error()]++
					continue
				}
				okN++
				if at := time.Since(begin); at >= from && at < to {
					winN++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			s.latencies = append(s.latencies, lat...)
			s.OK += okN
			s.WindowOK += winN
			s.Errors += errN
			for k, v := range errs {
				if len(s.ErrorText) < 5 || s.ErrorText[k] > 0 {
					s.ErrorText[k] += v
				}
			}
		})
	}
	wg.Wait()
	s.Elapsed = time.Since(begin)
	s.Codes["ok"] = s.OK
	if s.Errors > 0 {
		s.Codes["error"] = s.Errors
	}
	return s
}
