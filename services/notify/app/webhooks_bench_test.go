package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/app"
)

// BenchmarkWebhookFanOut publishes 1,000 events per round (8 producers at
// once, as the services' outboxes call) to a user with one endpoint, a
// local receiver that answers 204 at once, and reports the delivery rate
// (events/s, from the first publish to the last first attempt) and the
// p99 time from an event's commit (PublishEvent answered) to its first
// attempt reaching the receiver. River's own polling (no test override)
// and the production schedule; WEBHOOK_WORKERS at its default, 50.
func BenchmarkWebhookFanOut(b *testing.B) {
	const events, producers = 1000, 8
	hh := setupHooks(b, func(c *app.Config) {
		c.FetchPollInterval = 0
		c.Webhooks.Schedule = nil
	})
	user := hh.identity.addUser("ada@example.com", true)
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	done := make(chan struct{}, events)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Data struct {
				Key string `json:"key"`
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		if _, seen := arrived[body.Data.Key]; !seen {
			arrived[body.Data.Key] = time.Now()
			done <- struct{}{}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rcv.Close)
	hh.create(b, user, rcv.URL, "run.succeeded")

	var lat []time.Duration
	var total time.Duration
	for b.Loop() {
		committed := make(map[string]time.Time, events)
		var cmu sync.Mutex
		round := uuid.NewString()
		start := time.Now()
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for i := p; i < events; i += producers {
					key := fmt.Sprintf("%s-%d", round, i)
					_, err := hh.events.PublishEvent(context.Background(), &notifyv1.PublishEventRequest{
						IdempotencyKey: "workflow:" + key, UserId: user, Type: "run.succeeded",
						DataJson: []byte(`{"key":"` + key + `","status":"succeeded","charged_cents":10}`), OccurredAtUnixMs: time.Now().UnixMilli(),
					})
					if err != nil {
						b.Error(err)
						return
					}
					cmu.Lock()
					committed[key] = time.Now()
					cmu.Unlock()
				}
			})
		}
		for range events {
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				b.Fatal("events still undelivered after 2 minutes")
			}
		}
		total += time.Since(start)
		wg.Wait()
		mu.Lock()
		for k, c := range committed {
			lat = append(lat, max(arrived[k].Sub(c), 0))
		}
		mu.Unlock()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(events*b.N)/total.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_commit_to_attempt_ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_commit_to_attempt_ms")
}
