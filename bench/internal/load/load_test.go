package load

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", ms(7), 0.5, 7 * time.Millisecond},
		{"median of four is the second", ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(seq(100)...), 0.99, 99 * time.Millisecond},
		{"p99 of 1000 is the 990th", ms(seq(1000)...), 0.99, 990 * time.Millisecond},
		{"p100 is the max", ms(5, 9, 1), 1, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tt.in, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = n - i // reversed: percentile must sort
	}
	return out
}

func TestSummariseCountsThroughputInTheWindows(t *testing.T) {
	t.Parallel()
	s := Summarise([]Sample{
		{OK: 120, Errors: 1, Window: 4 * time.Second, WindowOK: 100, Elapsed: 5 * time.Second},
		{OK: 70, Window: 4 * time.Second, WindowOK: 60, Elapsed: 5 * time.Second},
	})
	if s.Throughput != 20 {
		t.Errorf("throughput = %v, want 20 (160 ok in 8 s of windows)", s.Throughput)
	}
	if s.OK != 190 || s.Errors != 1 || s.Requests != 191 {
		t.Errorf("ok/errors/requests = %d/%d/%d, want 190/1/191", s.OK, s.Errors, s.Requests)
	}
	if len(s.Rounds) != 2 || s.Rounds[0].Throughput != 25 || s.Rounds[1].Throughput != 15 {
		t.Errorf("rounds = %+v, want 25 and 15 ok/s", s.Rounds)
	}
}

func TestFuncCountsErrorsAndStops(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	var n atomic.Int64
	s := Func(context.Background(), "f", 2, 200*time.Millisecond, func(context.Context) error {
		time.Sleep(time.Millisecond)
		if n.Add(1)%2 == 0 {
			return boom
		}
		return nil
	})
	if int64(s.OK+s.Errors) != n.Load() {
		t.Errorf("ok %d + errors %d != calls %d", s.OK, s.Errors, n.Load())
	}
	if s.Errors == 0 || s.ErrorText["boom"] != s.Errors {
		t.Errorf("errors %d, samples %v: want every error counted under its text", s.Errors, s.ErrorText)
	}
	if s.Elapsed < 200*time.Millisecond || s.Window != 160*time.Millisecond {
		t.Errorf("elapsed %v window %v: want ≥ 200ms and the last 80%% (160ms)", s.Elapsed, s.Window)
	}
}

func TestHTTPRateOffersItsRateOpenLoop(t *testing.T) {
	t.Parallel()
	// The receiver answers slower than the rate's interval: a closed loop
	// of a few callers could not reach the rate, an open loop does.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: srv.URL})
	s := HTTPRate(context.Background(), "rate", 200, 64, time.Second, tr, func(code int) bool { return code == http.StatusNoContent })
	// 200 requests are due in the second; a loaded machine may start a few late.
	if s.OK+s.Errors < 150 || s.OK+s.Errors > 201 || s.Errors != 0 {
		t.Errorf("ok %d, errors %d (%v); want about 200 requests, no errors", s.OK, s.Errors, s.ErrorText)
	}
	if s.Callers != 64 {
		t.Errorf("callers = %d, want the in-flight bound 64", s.Callers)
	}
}
