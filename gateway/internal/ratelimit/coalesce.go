package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds the checks sent in one pipeline.
const maxBatch = 128

// coalescer sends concurrent GCRA checks to Redis together ("group
// commit", as the wallet's reserves, ADR 0017; ADR 0020 here): a check
// that finds no pipeline in flight is sent at once, alone, on its caller's
// goroutine; checks that arrive while one is in flight wait and go
// together, in arrival order, in the next pipeline, sent as soon as the one
// in flight is answered. No check waits for a timer. Redis runs a
// pipeline's scripts one after another, each atomically, so every check is
// decided exactly as if it had been sent alone at its turn: the same
// per-key decisions, one round trip (two syscalls) for the batch.
type coalescer struct {
	rdb redis.UniversalClient

	mu      sync.Mutex
	running bool
	queue   []*pending

	pipelined atomic.Int64 // checks sent in pipelines (not alone), for tests
}

type pending struct {
	ctx  context.Context
	c    check
	res  gcraResult
	err  error
	done chan struct{}
}

// allow decides c in the next pipeline (see coalescer). A check whose ctx
// ends while it waits leaves the queue and returns ctx's error; one already
// sent may still have taken its request from the bucket, as a lone call
// whose answer is lost would have.
func (q *coalescer) allow(ctx context.Context, c check) (gcraResult, error) {
	p := &pending{ctx: ctx, c: c}
	q.mu.Lock()
	if !q.running {
		q.running = true
		q.mu.Unlock()
		p.res, p.err = q.one(ctx, c)
		q.next()
		return p.res, p.err
	}
	p.done = make(chan struct{})
	q.queue = append(q.queue, p)
	q.mu.Unlock()
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		q.mu.Lock()
		for i, x := range q.queue {
			if x == p {
				q.queue = append(q.queue[:i], q.queue[i+1:]...)
				break
			}
		}
		q.mu.Unlock()
		return gcraResult{}, ctx.Err()
	}
}

// one sends a lone check: EVALSHA, and EVAL when Redis lacks the script.
func (q *coalescer) one(ctx context.Context, c check) (gcraResult, error) {
	v, err := gcraScript.Run(ctx, q.rdb, []string{c.key}, c.args()...).Result()
	if err != nil {
		return gcraResult{}, err
	}
	return parseResult(v)
}

// next sends the queued checks from a goroutine of its own, a pipeline at
// a time, until the queue is empty; or marks the coalescer idle.
func (q *coalescer) next() {
	q.mu.Lock()
	batch := q.take()
	if batch == nil {
		q.running = false
	}
	q.mu.Unlock()
	if batch == nil {
		return
	}
	go func() {
		for batch != nil {
			q.send(batch)
			for _, p := range batch {
				close(p.done)
			}
			q.mu.Lock()
			if batch = q.take(); batch == nil {
				q.running = false
			}
			q.mu.Unlock()
		}
	}()
}

// take removes the next batch, in arrival order, from the queue (q.mu
// held), leaving out checks whose caller has left; nil when none is left.
func (q *coalescer) take() []*pending {
	var batch []*pending
	n := 0
	for _, p := range q.queue {
		if p.ctx.Err() != nil {
			continue
		}
		if len(batch) == maxBatch {
			q.queue[n] = p
			n++
			continue
		}
		batch = append(batch, p)
	}
	clear(q.queue[n:])
	q.queue = q.queue[:n]
	return batch
}

// send runs batch as one pipeline of EVALSHAs; the checks Redis refused
// with NOSCRIPT (it had not run them) are sent again as EVALs. Each check
// gets its own reply or error, as a lone call would.
func (q *coalescer) send(batch []*pending) {
	q.pipelined.Add(int64(len(batch)))
	ctx, cancel := batchContext(batch)
	defer cancel()
	cmds := make([]*redis.Cmd, len(batch))
	pipe := q.rdb.Pipeline()
	for i, p := range batch {
		cmds[i] = gcraScript.EvalSha(ctx, pipe, []string{p.c.key}, p.c.args()...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	var retry []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		pipe = q.rdb.Pipeline()
		for _, i := range retry {
			cmds[i] = gcraScript.Eval(ctx, pipe, []string{batch[i].c.key}, batch[i].c.args()...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for i, p := range batch {
		v, err := cmds[i].Result()
		if err != nil {
			p.err = err
			continue
		}
		p.res, p.err = parseResult(v)
	}
}

// batchContext is what a queued batch is sent with: the first check's
// values, not its cancellation (the others still wait for the batch), and
// the latest of the checks' deadlines when all have one.
func batchContext(batch []*pending) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(batch[0].ctx)
	var latest time.Time
	for _, p := range batch {
		d, ok := p.ctx.Deadline()
		if !ok {
			return context.WithCancel(ctx)
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(ctx, latest)
}
