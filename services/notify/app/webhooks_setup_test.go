package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/app"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// testSchedule is the retry schedule of the tests: the production one's
// eight attempts, 50 ms apart.
var testSchedule = webhooks.Schedule{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond,
	50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}

// testClock is real time plus what the test advanced it by: the disabling
// rule and the rotation overlap are days and hours long.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// hookHarness is a notify service with webhooks, as the gateway (users'
// calls) and the workflow service (events) call it.
type hookHarness struct {
	*harness
	keys  *authtest.Keys
	clock *testClock
	hooks notifyv1.WebhookServiceClient
	// events calls PublishEvent as the workflow service.
	events notifyv1.NotifyServiceClient
}

// setupHooks starts notify with the test schedule and clock, private
// addresses allowed (the receivers are local), and configure's changes.
func setupHooks(t testing.TB, configure func(*app.Config)) *hookHarness {
	t.Helper()
	hh := &hookHarness{keys: authtest.NewKeys(t), clock: &testClock{}}
	hh.harness = setupWith(t, func(c *app.Config) {
		c.Keys = hh.keys
		c.Webhooks.AllowPrivate = true
		c.Webhooks.Schedule = testSchedule
		c.Webhooks.Now = hh.clock.Now
		if configure != nil {
			configure(c)
		}
	})
	gw, err := grpcservice.Dial(hh.addr, authtest.Minter(t, "gateway").Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	hh.hooks = notifyv1.NewWebhookServiceClient(gw)
	wf, err := grpcservice.Dial(hh.addr, authtest.Minter(t, "workflow").Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wf.Close() })
	hh.events = notifyv1.NewNotifyServiceClient(wf)
	return hh
}

// as is a context carrying userID's access token.
func (hh *hookHarness) as(t testing.TB, userID string) context.Context {
	return callauth.WithUserToken(context.Background(), hh.keys.AccessToken(t, userID, false))
}

// create makes an endpoint of userID for url and events.
func (hh *hookHarness) create(t testing.TB, userID, url string, events ...string) *notifyv1.CreateEndpointResponse {
	t.Helper()
	res, err := hh.hooks.CreateEndpoint(hh.as(t, userID), &notifyv1.CreateEndpointRequest{Url: url, Events: events})
	if err != nil {
		t.Fatalf("CreateEndpoint(%s): %v", url, err)
	}
	return res
}

// publish publishes an event for userID as the workflow service.
func (hh *hookHarness) publish(t testing.TB, userID, typ string, data any) string {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hh.events.PublishEvent(context.Background(), &notifyv1.PublishEventRequest{
		IdempotencyKey: "workflow:" + uuid.NewString(), UserId: userID, Type: typ, DataJson: b,
		OccurredAtUnixMs: time.Now().UnixMilli(),
	})
	if err != nil {
		t.Fatalf("PublishEvent(%s): %v", typ, err)
	}
	return res.GetEventId()
}

// deliveries lists an endpoint's deliveries.
func (hh *hookHarness) deliveries(t testing.TB, userID, endpointID string) []*notifyv1.Delivery {
	t.Helper()
	res, err := hh.hooks.ListDeliveries(hh.as(t, userID), &notifyv1.ListDeliveriesRequest{EndpointId: endpointID})
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	return res.GetDeliveries()
}

// waitDelivery waits until the endpoint's one delivery satisfies done.
func (hh *hookHarness) waitDelivery(t testing.TB, userID, endpointID string, done func(*notifyv1.Delivery) bool) *notifyv1.Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds := hh.deliveries(t, userID, endpointID)
		if len(ds) == 1 && done(ds[0]) {
			return ds[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries of %s: %v after 30 s\n%s", endpointID, ds, hh.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func settled(d *notifyv1.Delivery) bool { return d.GetStatus() != "pending" }

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is a local webhook endpoint: it keeps every request and
// answers with the status answer returns for the n-th (from 1).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int) int
}

func startReceiver(t testing.TB, answer func(n int) int) *receiver {
	t.Helper()
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Header: req.Header.Clone(), Body: body})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusOK
		if r.answer != nil {
			code = r.answer(n)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"ok":` + map[bool]string{true: "true", false: "false"}[code < 300] + `}`))
	}))
	t.Cleanup(r.Close)
	return r
}

// requests returns what the receiver got so far.
func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// always answers every request with code.
func always(code int) func(int) int { return func(int) int { return code } }

// endpointRow is an endpoint's state as stored.
func (hh *hookHarness) endpointState(t testing.TB, id string) (enabled bool, reason string) {
	t.Helper()
	var r *string
	if err := hh.pool.QueryRow(context.Background(), `SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = $1`, id).Scan(&enabled, &r); err != nil {
		t.Fatal(err)
	}
	if r != nil {
		reason = *r
	}
	return enabled, reason
}

// disabledEmails counts the endpoint-disabled emails stored for userID.
func (hh *hookHarness) disabledEmails(t testing.TB, userID string) int {
	t.Helper()
	var n int
	if err := hh.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM emails WHERE template = 'webhook_endpoint_disabled' AND to_user_id = $1`, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
