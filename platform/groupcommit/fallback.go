package groupcommit

import "context"

// OneByOne returns a run function for New and NewGroups built from the two
// ways a store writes: batch answers a batch of more than one call at once,
// storing each answer in out (out[i] for ins[i]) and returning nil, or
// returns an error having answered nothing; one answers a single call. A
// batch of one is answered by one alone. When batch fails, every call of
// the batch is answered by one, in order, so that one bad call cannot fail
// the others; since the batch may have committed before its error (a lost
// answer), one must be idempotent.
//
// observe, when set, is told each batch's size and batch's error (nil for
// a batch of one and for a batch that succeeded), before a failed batch's
// calls are answered one by one: metrics and the operator's warning.
func OneByOne[In, Out any](
	batch func(ctx context.Context, ins []In, out []Result[Out]) error,
	one func(ctx context.Context, in In) (Out, error),
	observe func(ctx context.Context, size int, err error),
) func(ctx context.Context, ins []In) []Result[Out] {
	return func(ctx context.Context, ins []In) []Result[Out] {
		out := make([]Result[Out], len(ins))
		var err error
		if len(ins) > 1 {
			if err = batch(ctx, ins, out); err == nil {
				if observe != nil {
					observe(ctx, len(ins), nil)
				}
				return out
			}
			clear(out)
		}
		if observe != nil {
			observe(ctx, len(ins), err)
		}
		for i, in := range ins {
			out[i].Out, out[i].Err = one(ctx, in)
		}
		return out
	}
}
