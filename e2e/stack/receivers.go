package stack

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EchoN8N stands in for an n8n webhook for the rest of the test: it
// answers every call 200 with {"ok": true, "echo": <the JSON it got>,
// "note": "processed by the test receiver"}.
func EchoN8N(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in any
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "echo": in, "note": "processed by the test receiver"})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// StripeCustomer reads the Stripe Customer the wallet made for userID
// (Stripe's setup events name it).
func (s *Stack) StripeCustomer(t testing.TB, userID string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.WalletDatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var id string
	if err := conn.QueryRow(context.Background(), "SELECT stripe_customer_id FROM wallet_settings WHERE user_id = $1", userID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
