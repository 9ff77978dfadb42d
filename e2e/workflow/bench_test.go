package workflow_test

import (
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkSyncRun measures the whole sync run path through gRPC: record,
// reserve in the real wallet, call an instant local n8n, capture.
func BenchmarkSyncRun(b *testing.B) {
	h := setup(b)
	rcv := newReceiver(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	h.createWorkflow(b, "bench", rcv.URL, wfOpts{fee: 1})
	userID, ctx := h.user(b)
	h.fund(b, userID, 1_000_000)
	for i := 0; b.Loop(); i++ {
		run, err := startRun(ctx, h, "bench", fmt.Sprintf(`{"i":%d}`, i), "", false)
		if err != nil || run.GetStatus() != "succeeded" {
			b.Fatalf("run %d = %v, %v", i, run, err)
		}
	}
}

// BenchmarkSyncRunParallel is BenchmarkSyncRun with concurrent callers of one user.
func BenchmarkSyncRunParallel(b *testing.B) {
	h := setup(b)
	rcv := newReceiver(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	h.createWorkflow(b, "bench", rcv.URL, wfOpts{fee: 1})
	userID, ctx := h.user(b)
	h.fund(b, userID, 1_000_000)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			run, err := startRun(ctx, h, "bench", `{"p":true}`, "", false)
			if err != nil || run.GetStatus() != "succeeded" {
				b.Errorf("run = %v, %v", run, err)
				return
			}
		}
	})
}
