package stripeclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/wallet/internal/stripeclient"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
)

func TestCreateCheckoutSession(t *testing.T) {
	t.Parallel()
	c := stripeclient.New("sk_test_123", stripemocktest.Start(t))
	req := wallet.CheckoutRequest{
		TopUpID: uuid.New(), UserID: uuid.New(), AmountCents: 1500, Currency: "usd",
		SuccessURL: "https://app.example.com/ok", CancelURL: "https://app.example.com/cancel", IdempotencyKey: "k1",
	}
	s, err := c.CreateCheckoutSession(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateCheckoutSession: %v", err)
	}
	if !strings.HasPrefix(s.ID, "cs_") || !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("session = %+v", s)
	}
}

func TestCreateCheckoutSessionUnreachable(t *testing.T) {
	t.Parallel()
	c := stripeclient.New("sk_test_123", "http://127.0.0.1:9")
	_, err := c.CreateCheckoutSession(context.Background(), wallet.CheckoutRequest{
		TopUpID: uuid.New(), UserID: uuid.New(), AmountCents: 1500, Currency: "usd", SuccessURL: "https://a/b", CancelURL: "https://a/c",
	})
	if err == nil {
		t.Fatal("no error from a closed port")
	}
}

// Every session carries the top-up on itself and on its PaymentIntent, so
// that a refund or dispute arriving before the session's completion can find
// its top-up; the PaymentIntent's metadata is read back from Stripe's API.
func TestCheckoutSessionTagsItsPaymentIntent(t *testing.T) {
	t.Parallel()
	stripe := stripemocktest.StartStateful(t)
	c := stripeclient.New("sk_test_123", stripe.URL)
	req := wallet.CheckoutRequest{TopUpID: uuid.New(), UserID: uuid.New(), AmountCents: 1500, Currency: "usd",
		SuccessURL: "https://app.example.com/ok", CancelURL: "https://app.example.com/cancel"}
	s, err := c.CreateCheckoutSession(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	stripe.Pay(s.ID, "pi_test_tagged")
	md, err := c.PaymentIntentMetadata(context.Background(), "pi_test_tagged")
	if err != nil {
		t.Fatal(err)
	}
	if md[wallet.MetadataTopUpID] != req.TopUpID.String() || md[wallet.MetadataUserID] != req.UserID.String() {
		t.Fatalf("PaymentIntent metadata = %v", md)
	}
	// A PaymentIntent of someone else's: stripe-mock's fixture, no metadata.
	md, err = c.PaymentIntentMetadata(context.Background(), "pi_someone_else")
	if err != nil || len(md) != 0 {
		t.Fatalf("foreign PaymentIntent metadata = %v, %v", md, err)
	}
	stripe.SetPaymentIntentsDown(true)
	if _, err := c.PaymentIntentMetadata(context.Background(), "pi_test_tagged"); err == nil || errors.Is(err, wallet.ErrUnknownPaymentIntent) {
		t.Fatalf("API down: err = %v, want a failure other than unknown", err)
	}
}

func TestPaymentIntentMetadataUnknown(t *testing.T) {
	t.Parallel()
	// Stripe's answer for an id the key's account does not have.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":"resource_missing","param":"intent","type":"invalid_request_error","message":"No such payment_intent: 'pi_x'"}}`)
	}))
	t.Cleanup(srv.Close)
	_, err := stripeclient.New("sk_test_123", srv.URL).PaymentIntentMetadata(context.Background(), "pi_x")
	if !errors.Is(err, wallet.ErrUnknownPaymentIntent) {
		t.Fatalf("err = %v, want ErrUnknownPaymentIntent", err)
	}
}
