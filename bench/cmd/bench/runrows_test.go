package main

import (
	"math"
	"testing"

	"github.com/meterflow/meterflow/bench/internal/load"
)

func TestCPUPerRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cores     map[string]float64
		perSecond float64
		wantMs    float64
		wantParts []float64
		wantOK    bool
	}{
		{"nothing served", map[string]float64{"wallet": 1}, 0, 0, nil, false},
		{"no CPU measured", nil, 100, 0, nil, false},
		{
			"2 cores at 1,000 runs/s is 2 ms, harness and other excluded",
			map[string]float64{"gateway": 0.2, "identity": 0.1, "wallet": 0.3, "workflow": 0.4, "notify": 0.1, "postgres": 0.9,
				"harness": 0.5, "machine_busy_cores": 2},
			1000, 2, []float64{0.2, 0.1, 0.3, 0.4, 0.1, 0.9}, true,
		},
		{
			"postgres_bench replaces every postgres process",
			map[string]float64{"gateway": 0.25, "wallet": 0.25, "postgres": 1.5, "postgres_bench": 0.5},
			500, 2, []float64{0.5, 0, 0.5, 0, 0, 1}, true,
		},
		{
			"a process not started counts zero",
			map[string]float64{"gateway": 0.3, "workflow": 0.3},
			300, 2, []float64{1, 0, 0, 1, 0, 0}, true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, parts, ok := cpuPerRun(tt.cores, tt.perSecond)
			if ok != tt.wantOK || math.Abs(ms-tt.wantMs) > 1e-9 || len(parts) != len(tt.wantParts) {
				t.Fatalf("cpuPerRun = %v, %v, %v; want %v, %v, %v", ms, parts, ok, tt.wantMs, tt.wantParts, tt.wantOK)
			}
			for i := range parts {
				if math.Abs(parts[i]-tt.wantParts[i]) > 1e-9 {
					t.Errorf("part %s = %v, want %v", runCPUProcs[i], parts[i], tt.wantParts[i])
				}
			}
		})
	}
}

func TestABRows(t *testing.T) {
	t.Parallel()
	cores := func(total float64) map[string]float64 {
		return map[string]float64{"wallet": total / 2, "postgres_bench": total / 2}
	}
	tests := []struct {
		name             string
		a, b             load.Stats
		aCores, bCores   map[string]float64
		wantRun, wantCPU bool
		wantRatio        string
		wantLone         bool
	}{
		{
			"2.5× the throughput at a third of the CPU, same lone p50",
			load.Stats{Throughput: 1500, P50Ms: 2, P99Ms: 4}, load.Stats{Throughput: 600, P50Ms: 2, P99Ms: 4},
			cores(1.5), cores(1.8), true, true, "2.50×", true,
		},
		{
			"2× the throughput fails; 1.5 ms per run fails; a lone run waiting 1 ms more fails",
			load.Stats{Throughput: 1000, P50Ms: 3, P99Ms: 5}, load.Stats{Throughput: 500, P50Ms: 2, P99Ms: 4},
			cores(1.5), cores(1.5), false, false, "2.00×", false,
		},
		{
			"errors on A fail every row",
			load.Stats{Throughput: 3000, P50Ms: 1, P99Ms: 2, Errors: 1}, load.Stats{Throughput: 600, P50Ms: 2, P99Ms: 4},
			cores(1), cores(1.8), false, true, "5.00×", false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &report{}
			r.abRun(tt.a, tt.b, 32, "abc1234")
			r.abCPU(tt.aCores, tt.a, tt.bCores, tt.b, "abc1234")
			r.abLone(tt.a, tt.b, "abc1234")
			if len(r.Rows) != 3 {
				t.Fatalf("%d rows, want 3", len(r.Rows))
			}
			got := []bool{*r.Rows[0].Pass, *r.Rows[1].Pass, *r.Rows[2].Pass}
			want := []bool{tt.wantRun, tt.wantCPU, tt.wantLone}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("row %s: pass %v, want %v (%+v)", r.Rows[i].Key, got[i], want[i], r.Rows[i])
				}
			}
			if r.Rows[0].Ratio != tt.wantRatio {
				t.Errorf("run ratio %q, want %q", r.Rows[0].Ratio, tt.wantRatio)
			}
		})
	}
}
