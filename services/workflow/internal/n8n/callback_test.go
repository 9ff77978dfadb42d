package n8n

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// TestCallbackAndSignatureHeaders: a callback-mode call carries its
// callback URL, and a signed call Standard Webhooks headers that verify
// with the workflow's key over the body as sent; an unsigned call has none.
func TestCallbackAndSignatureHeaders(t *testing.T) {
	t.Parallel()
	type got struct {
		h    http.Header
		body []byte
	}
	calls := make(chan got, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- got{r.Header.Clone(), b}
	}))
	defer srv.Close()
	c := New(Options{Addresses: safehttp.AddressPolicy{AllowPrivate: true}})
	secret, _ := stdwebhooks.NewSecret()
	key, _ := stdwebhooks.ParseSecret(secret)
	body := []byte(`{"lead":"ada","n":1}`)

	resp := c.Call(context.Background(), workflow.Request{URL: srv.URL, RunID: "run-1", Body: body, Timeout: 5 * time.Second,
		CallbackURL: "https://api.example.com/v1/callbacks/runs/run-1?token=abc", SigningKey: key})
	if !resp.OK {
		t.Fatalf("call: %+v", resp)
	}
	g := <-calls
	if g.h.Get("X-Meterflow-Callback-URL") != "https://api.example.com/v1/callbacks/runs/run-1?token=abc" || g.h.Get("webhook-id") != "run-1" {
		t.Fatalf("headers %v", g.h)
	}
	if err := stdwebhooks.Verify(g.body, g.h, time.Now(), key); err != nil {
		t.Fatalf("signature: %v", err)
	}

	if resp := c.Call(context.Background(), workflow.Request{URL: srv.URL, RunID: "run-2", Body: body, Timeout: 5 * time.Second}); !resp.OK {
		t.Fatalf("call: %+v", resp)
	}
	g = <-calls
	for _, h := range []string{"X-Meterflow-Callback-URL", "webhook-id", "webhook-timestamp", "webhook-signature"} {
		if g.h.Get(h) != "" {
			t.Errorf("an unsigned response-mode call has %s", h)
		}
	}
}
