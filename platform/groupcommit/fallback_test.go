package groupcommit

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestOneByOne: a batch of one and a failed batch are answered by one, a
// batch that succeeded by batch alone, and observe sees each batch once.
func TestOneByOne(t *testing.T) {
	failed := errors.New("batch failed")
	for _, tc := range []struct {
		name      string
		ins       []int
		batchErr  error
		wantBatch bool
		wantOne   []int
		wantOut   []int
		wantErr   error
	}{
		{name: "one call", ins: []int{1}, wantOne: []int{1}, wantOut: []int{10}},
		{name: "batch", ins: []int{1, 2, 3}, wantBatch: true, wantOut: []int{100, 200, 300}},
		{name: "failed batch", ins: []int{1, 2, 3}, batchErr: failed, wantBatch: true, wantOne: []int{1, 2, 3}, wantOut: []int{10, 20, 30}, wantErr: failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				batched  bool
				ones     []int
				observed []int
				seenErr  error
			)
			run := OneByOne(
				func(_ context.Context, ins []int, out []Result[int]) error {
					batched = true
					for i, in := range ins {
						out[i].Out = in * 100 // a failed batch's partial answers must not leak
					}
					return tc.batchErr
				},
				func(_ context.Context, in int) (int, error) { ones = append(ones, in); return in * 10, nil },
				func(_ context.Context, size int, err error) { observed = append(observed, size); seenErr = err },
			)
			res := run(context.Background(), tc.ins)
			var got []int
			for _, r := range res {
				if r.Err != nil {
					t.Fatalf("answer error %v", r.Err)
				}
				got = append(got, r.Out)
			}
			if batched != tc.wantBatch || !slices.Equal(ones, tc.wantOne) || !slices.Equal(got, tc.wantOut) {
				t.Errorf("batched %v, one by one %v, answers %v; want %v, %v, %v", batched, ones, got, tc.wantBatch, tc.wantOne, tc.wantOut)
			}
			if !slices.Equal(observed, []int{len(tc.ins)}) || !errors.Is(seenErr, tc.wantErr) || (tc.wantErr == nil && seenErr != nil) {
				t.Errorf("observed %v with %v, want one batch of %d with %v", observed, seenErr, len(tc.ins), tc.wantErr)
			}
		})
	}
}
