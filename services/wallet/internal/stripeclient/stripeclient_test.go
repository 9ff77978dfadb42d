package stripeclient_test

import (
	"context"
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
