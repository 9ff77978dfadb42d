package portal_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
)

const (
	password = "portal-password-1"
	// workflow is the echo workflow every test runs, at fee cents a run.
	workflow = "echo"
	fee      = 25
)

// world is the stack with an admin and a workflow that echoes its input.
type world struct {
	s     *stack.Stack
	admin string // the admin's access token
}

// setup starts the stack as production runs it (verified emails required)
// with the echo workflow.
func setup(t *testing.T) *world {
	t.Helper()
	s := stack.Start(t, stack.Options{RequireVerifiedEmail: true})
	w := &world{s: s, admin: s.Admin(t)}
	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/workflows", Token: w.admin, Body: map[string]any{
		"slug": workflow, "name": "Echo", "description": "Answers with what it was given.",
		"webhook_url": stack.EchoN8N(t).URL, "fee_cents": fee, "timeout_ms": 5000,
	}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	return w
}

// shotsDir is where the screenshots of docs/portal.md go: docs/portal
// (PORTAL_SCREENSHOTS elsewhere), so they follow the pages.
func shotsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PORTAL_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "docs", "portal")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// newCheckout waits for the Checkout Session after the first n, as
// Stripe's page would show it to the paying user.
func newCheckout(t *testing.T, s *stack.Stack, n int) stripemocktest.Checkout {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if c := s.Stripe.Checkouts(); len(c) > n {
			return c[n]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Checkout Session #%d after 15s", n+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pay is Stripe telling the wallet that checkout c was paid: a signed
// checkout.session.completed.
func pay(t *testing.T, s *stack.Stack, c stripemocktest.Checkout, amount int64) {
	t.Helper()
	event := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: c.ID, TopUpID: c.Metadata["topup_id"], UserID: c.Metadata["user_id"], AmountTotal: amount,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_portal_" + stack.RandomHex(),
	})
	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, stack.WebhookSecret, time.Now())}})
	if r.Status != http.StatusOK {
		t.Fatalf("stripe webhook: %d %s", r.Status, r.Body)
	}
}

// verifyLink is the path of the verification link emailed to address.
var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+/app/verify-email\?token=[A-Za-z0-9_-]+`)

func verifyLink(t *testing.T, s *stack.Stack, address string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range s.Mail.Messages() {
			if len(m.To) == 1 && m.To[0] == address {
				if link := linkPattern.FindString(m.Text); link != "" {
					// The link names PUBLIC_BASE_URL; the test's gateway has its own port.
					return link[strings.Index(link, "/app/"):]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verification email to %s after 30s", address)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hookReceiver is the user's own webhook endpoint: it counts the events.
type hookReceiver struct {
	*httptest.Server
	events chan string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{events: make(chan string, 16)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ev)
		if r.Header.Get("webhook-signature") == "" {
			http.Error(w, "unsigned", http.StatusBadRequest)
			return
		}
		select {
		case h.events <- ev.Type:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}
