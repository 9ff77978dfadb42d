package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// BenchmarkPublish stores 512 events of a user without endpoints (the
// common case) per iteration, through notify's gRPC server as a
// producer calls it: call=one is PublishEvent event by event (the River
// event jobs' way, one producer), call=batch/size=N PublishEvents with N
// events a call (the outbox relay's). events/s is notify's storing rate.
func BenchmarkPublish(b *testing.B) {
	const events = 512
	hh := setupHooks(b, nil)
	user := hh.identity.addUser("ada@example.com", true)
	ctx := context.Background()
	request := func(round string, i int) *notifyv1.PublishEventRequest {
		return &notifyv1.PublishEventRequest{IdempotencyKey: fmt.Sprintf("workflow:%s-%d", round, i), UserId: user,
			Type: "run.succeeded", DataJson: fmt.Appendf(nil, `{"id":"%d","status":"succeeded","charged_cents":10}`, i),
			OccurredAtUnixMs: time.Now().UnixMilli()}
	}
	for _, size := range []int{1, 8, 64, 500} {
		name := fmt.Sprintf("call=batch/size=%d", size)
		if size == 1 {
			name = "call=one/size=1"
		}
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				round := uuid.NewString()
				start := time.Now()
				for i := 0; i < events; i += size {
					if size == 1 {
						if _, err := hh.events.PublishEvent(ctx, request(round, i)); err != nil {
							b.Fatal(err)
						}
						continue
					}
					req := &notifyv1.PublishEventsRequest{}
					for j := i; j < min(i+size, events); j++ {
						req.Events = append(req.Events, request(round, j))
					}
					res, err := hh.events.PublishEvents(ctx, req)
					if err != nil || !res.GetResults()[0].GetCreated() {
						b.Fatal(res, err)
					}
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(b.N*events)/total.Seconds(), "events/s")
		})
	}
}
