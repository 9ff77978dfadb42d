package app_test

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// notifySink stands in for the notify service (another process, reached
// over gRPC): it keeps the emails the outbox delivered, once per
// idempotency key as notify does.
type notifySink struct {
	// The rest of the client (PublishEvent): identity sends emails only.
	notifyv1.NotifyServiceClient
	mu     sync.Mutex
	emails []*notifyv1.SendEmailRequest
	seen   map[string]bool
}

// SendEmail implements notifyv1.NotifyServiceClient.
func (n *notifySink) SendEmail(_ context.Context, req *notifyv1.SendEmailRequest, _ ...grpc.CallOption) (*notifyv1.SendEmailResponse, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[string]bool{}
	}
	created := !n.seen[req.GetIdempotencyKey()]
	if created {
		n.seen[req.GetIdempotencyKey()] = true
		n.emails = append(n.emails, req)
	}
	return &notifyv1.SendEmailResponse{EmailId: req.GetIdempotencyKey(), Created: created}, nil
}

// PublishEvent implements notifyv1.NotifyServiceClient: identity publishes
// no webhook events.
func (n *notifySink) PublishEvent(context.Context, *notifyv1.PublishEventRequest, ...grpc.CallOption) (*notifyv1.PublishEventResponse, error) {
	return nil, status.Error(codes.Unimplemented, "identity publishes no events")
}

// sent returns the emails of template to userID, oldest first.
func (n *notifySink) sent(template, userID string) []*notifyv1.SendEmailRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*notifyv1.SendEmailRequest
	for _, e := range n.emails {
		if e.GetTemplate() == template && e.GetToUserId() == userID {
			out = append(out, e)
		}
	}
	return out
}

// waitJobs waits until identity's job queue has nothing left to work
// (the outbox's emails delivered, the reset requests handled).
func (b *bundle) waitJobs() {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var open int
		if err := b.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&open); err != nil {
			b.t.Fatal(err)
		}
		if open == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.t.Fatal("identity's jobs still open after 30 s")
}

// emails waits for the queue to drain and returns the emails of template
// sent to userID, oldest first.
func (b *bundle) emails(template, userID string) []*notifyv1.SendEmailRequest {
	b.t.Helper()
	b.waitJobs()
	return b.notify.sent(template, userID)
}

// lastLink returns the token of the newest link of template sent to
// userID, failing unless it points at path on the configured base URL.
func (b *bundle) lastLink(template, userID, path string) string {
	b.t.Helper()
	sent := b.emails(template, userID)
	if len(sent) == 0 {
		b.t.Fatalf("no %s email to %s", template, userID)
	}
	link := sent[len(sent)-1].GetData()["link"]
	prefix := b.cfg.PublicBaseURL + path + "?token="
	if len(link) <= len(prefix) || link[:len(prefix)] != prefix {
		b.t.Fatalf("%s link %q, want %s<token>", template, link, prefix)
	}
	return link[len(prefix):]
}
