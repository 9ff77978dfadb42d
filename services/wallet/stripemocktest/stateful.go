package stripemocktest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Stripe is stripe-mock behind a small proxy that keeps the one piece of
// Stripe's state that stripe-mock lacks and the wallet relies on: the
// metadata a Checkout Session was created with for its PaymentIntent
// (payment_intent_data[metadata]). Once a test says the session was paid
// (Pay), retrieving that PaymentIntent returns that metadata, as Stripe
// does. Everything else passes through to stripe-mock unchanged.
type Stripe struct {
	// URL is the API base, for STRIPE_API_BASE.
	URL string

	t        testing.TB
	mock     string
	mu       sync.Mutex
	sessions map[string]map[string]string // session id → the metadata asked for its PaymentIntent
	created  []Checkout                   // every payment-mode session, in order
	intents  map[string]map[string]string // PaymentIntent id → its metadata
	down     bool
	auto     automation
}

// StartStateful starts stripe-mock and the proxy for the rest of the test.
func StartStateful(t testing.TB) *Stripe {
	t.Helper()
	s := &Stripe{t: t, mock: Start(t), sessions: map[string]map[string]string{}, intents: map[string]map[string]string{}, auto: newAutomation()}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Pay records that the customer paid Checkout Session sessionID and that
// Stripe made PaymentIntent paymentIntentID for it, which carries the
// metadata the session asked for. It returns that metadata: Stripe copies
// it onto the charge as well.
func (s *Stripe) Pay(sessionID, paymentIntentID string) map[string]string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	md, ok := s.sessions[sessionID]
	if !ok {
		s.t.Fatalf("stripemocktest: no Checkout Session %s was created through this proxy", sessionID)
	}
	s.intents[paymentIntentID] = md
	return maps.Clone(md)
}

// Checkout is a Checkout Session created through the proxy, as the paying
// user's browser would see it: where Stripe sends it back, and the
// session's metadata (the wallet's top-up and user ids).
type Checkout struct {
	ID, SuccessURL, CancelURL string
	Metadata                  map[string]string
}

// Checkouts returns the Checkout Sessions created so far, oldest first.
func (s *Stripe) Checkouts() []Checkout {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Checkout(nil), s.created...)
}

// SetPaymentIntentsDown makes retrieving a PaymentIntent fail with 503, as
// when Stripe's API is unreachable, until it is called with false.
func (s *Stripe) SetPaymentIntentsDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *Stripe) serve(w http.ResponseWriter, r *http.Request) {
	reqBody, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.serveAutomation(w, r, reqBody) {
		return
	}
	piID, isPI := strings.CutPrefix(r.URL.Path, "/v1/payment_intents/")
	isPI = isPI && r.Method == http.MethodGet && !strings.Contains(piID, "/")
	if isPI {
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if down {
			w.Header().Set("Stripe-Should-Retry", "false")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"type":"api_error","message":"stripemocktest: the API is down"}}`)
			return
		}
	}
	status, header, body, err := s.forward(r, reqBody)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	switch {
	case status == http.StatusOK && r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions":
		s.recordSession(reqBody, body)
	case status == http.StatusOK && isPI:
		body = s.withMetadata(piID, body)
	}
	for k, v := range header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Stripe) forward(r *http.Request, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, s.mock+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// recordSession keeps the PaymentIntent metadata a session creation asked for.
func (s *Stripe) recordSession(reqBody, respBody []byte) {
	form, err := url.ParseQuery(string(reqBody))
	if err != nil {
		return
	}
	md := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "payment_intent_data[metadata]["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
			md[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	var sess struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(respBody, &sess) != nil || sess.ID == "" {
		return
	}
	c := Checkout{ID: sess.ID, SuccessURL: form.Get("success_url"), CancelURL: form.Get("cancel_url"), Metadata: map[string]string{}}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
			c.Metadata[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	s.mu.Lock()
	s.sessions[sess.ID] = md
	s.created = append(s.created, c)
	s.mu.Unlock()
}

// withMetadata puts the recorded metadata into a retrieved PaymentIntent.
func (s *Stripe) withMetadata(id string, body []byte) []byte {
	s.mu.Lock()
	md, ok := s.intents[id]
	s.mu.Unlock()
	if !ok {
		return body
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	obj["metadata"] = md
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}
