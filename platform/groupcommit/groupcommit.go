// Package groupcommit coalesces concurrent calls into batches that one
// database transaction serves ("group commit", ADR 0017): a call that finds
// no batch running runs at once, alone, on its own goroutine; calls that
// arrive while a batch runs wait in a queue and form the next batch (in
// arrival order, up to a maximum size), which starts as soon as the running
// one ends. No call ever waits for a timer: at low load every call is a
// batch of one, and batches grow only as fast as the database is busy.
//
// The queue is only a coalescing device: a call is answered after its
// batch's transaction ended, and a process that dies loses only the calls
// that were never answered.
package groupcommit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Result is one call's answer.
type Result[Out any] struct {
	Out Out
	Err error
}

// Batcher runs batches of In through Run. One batch runs at a time.
type Batcher[In, Out any] struct {
	max int
	run func(ctx context.Context, ins []In) []Result[Out]
	key func(In) string

	mu      sync.Mutex
	running bool
	queue   []*call[In, Out]
}

type call[In, Out any] struct {
	ctx  context.Context
	in   In
	res  Result[Out]
	done chan struct{}
}

// New returns a Batcher that runs batches of at most max calls (max >= 1)
// through run, which must return one Result per input, in order. Two calls
// with the same key (key may be nil) are never in one batch: the later one
// waits for the next, so it is answered as a retry after the first would be.
func New[In, Out any](max int, key func(In) string, run func(ctx context.Context, ins []In) []Result[Out]) *Batcher[In, Out] {
	return &Batcher[In, Out]{max: max, run: run, key: key}
}

// Do runs in, in the next batch. When no batch is running, that is a batch
// of in alone, run at once on the caller's goroutine with the caller's ctx.
// Otherwise in waits for the running batch to end; its batch then runs with
// a context that carries the first call's values and the latest of the
// callers' deadlines. A call whose ctx ends while it waits in the queue
// leaves it and returns ctx's error; one whose batch is running returns
// ctx's error at once, and its batch may still commit it (as a statement
// whose answer is lost in the network would).
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	c := &call[In, Out]{ctx: ctx, in: in}
	b.mu.Lock()
	if !b.running {
		b.running = true
		b.mu.Unlock()
		b.runBatch(ctx, []*call[In, Out]{c})
		b.next()
		return c.res.Out, c.res.Err
	}
	c.done = make(chan struct{})
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.res.Out, c.res.Err
	case <-ctx.Done():
		b.mu.Lock()
		for i, q := range b.queue {
			if q == c {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
		b.mu.Unlock()
		var zero Out
		return zero, ctx.Err()
	}
}

// Queued returns how many calls wait for a batch.
func (b *Batcher[In, Out]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// next starts the queued batches on a goroutine of their own, or marks the
// Batcher idle when nothing is queued.
func (b *Batcher[In, Out]) next() {
	b.mu.Lock()
	batch := b.take()
	if batch == nil {
		b.running = false
	}
	b.mu.Unlock()
	if batch == nil {
		return
	}
	go func() {
		for batch != nil {
			ctx, cancel := batchContext(batch)
			b.runBatch(ctx, batch)
			cancel()
			for _, c := range batch {
				close(c.done)
			}
			b.mu.Lock()
			if batch = b.take(); batch == nil {
				b.running = false
			}
			b.mu.Unlock()
		}
	}()
}

// take removes the next batch from the queue (b.mu held): the calls in
// arrival order, skipping a call whose key is already in the batch, up to
// b.max; calls whose context ended are dropped. Nil when no call is left.
func (b *Batcher[In, Out]) take() []*call[In, Out] {
	if len(b.queue) == 0 {
		return nil
	}
	batch := make([]*call[In, Out], 0, min(len(b.queue), b.max))
	var keys map[string]bool
	if b.key != nil {
		keys = make(map[string]bool, cap(batch))
	}
	rest := b.queue[:0]
	for _, c := range b.queue {
		if c.ctx.Err() != nil {
			continue // its caller is leaving (Do): nothing to run for it
		}
		if len(batch) == b.max {
			rest = append(rest, c)
			continue
		}
		if keys != nil {
			k := b.key(c.in)
			if keys[k] {
				rest = append(rest, c)
				continue
			}
			keys[k] = true
		}
		batch = append(batch, c)
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	if len(batch) == 0 {
		return nil
	}
	return batch
}

// runBatch runs batch and stores each call's result; a panic in run
// becomes every call's error.
func (b *Batcher[In, Out]) runBatch(ctx context.Context, batch []*call[In, Out]) {
	ins := make([]In, len(batch))
	for i, c := range batch {
		ins[i] = c.in
	}
	var out []Result[Out]
	func() {
		defer func() {
			if r := recover(); r != nil {
				out = nil
				for range batch {
					out = append(out, Result[Out]{Err: fmt.Errorf("groupcommit: batch of %d panicked: %v", len(batch), r)})
				}
			}
		}()
		out = b.run(ctx, ins)
	}()
	for i, c := range batch {
		if i < len(out) {
			c.res = out[i]
		} else {
			c.res.Err = fmt.Errorf("groupcommit: batch of %d answered %d calls", len(batch), len(out))
		}
	}
}

// batchContext is the context a queued batch runs with: the first call's
// values, not its cancellation (the others still wait for the batch), and
// the latest of the calls' deadlines when all have one.
func batchContext[In, Out any](batch []*call[In, Out]) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(batch[0].ctx)
	var latest time.Time
	for _, c := range batch {
		d, ok := c.ctx.Deadline()
		if !ok {
			return context.WithCancel(ctx)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(ctx, latest)
}

// Groups keeps one Batcher per group (an account): calls of one group
// coalesce, calls of different groups never wait on one another. A
// group's Batcher exists while calls of the group are in Do.
type Groups[K comparable, In, Out any] struct {
	newBatcher func() *Batcher[In, Out]

	mu     sync.Mutex
	groups map[K]*group[In, Out]
}

type group[In, Out any] struct {
	b     *Batcher[In, Out]
	calls int
}

// NewGroups returns Groups whose Batchers are made as New(max, key, run)
// makes them.
func NewGroups[K comparable, In, Out any](max int, key func(In) string, run func(ctx context.Context, ins []In) []Result[Out]) *Groups[K, In, Out] {
	return &Groups[K, In, Out]{
		newBatcher: func() *Batcher[In, Out] { return New(max, key, run) },
		groups:     map[K]*group[In, Out]{},
	}
}

// Do runs in through the Batcher of group g (Batcher.Do).
func (gs *Groups[K, In, Out]) Do(ctx context.Context, g K, in In) (Out, error) {
	gs.mu.Lock()
	e := gs.groups[g]
	if e == nil {
		e = &group[In, Out]{b: gs.newBatcher()}
		gs.groups[g] = e
	}
	e.calls++
	gs.mu.Unlock()
	defer func() {
		gs.mu.Lock()
		if e.calls--; e.calls == 0 {
			// A batch of callers who all gave up may still run: a new call
			// of g then starts a Batcher of its own beside it, as two
			// reserves did before batching.
			delete(gs.groups, g)
		}
		gs.mu.Unlock()
	}()
	return e.b.Do(ctx, in)
}

// Len returns how many groups have calls in Do.
func (gs *Groups[K, In, Out]) Len() int {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return len(gs.groups)
}

// Queued returns how many calls of group g wait for a batch.
func (gs *Groups[K, In, Out]) Queued(g K) int {
	gs.mu.Lock()
	e := gs.groups[g]
	gs.mu.Unlock()
	if e == nil {
		return 0
	}
	return e.b.Queued()
}
