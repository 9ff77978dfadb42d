package stripemocktest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// What the proxy adds for wallet automation: Stripe's own answers where
// stripe-mock answers one canned object for every call.
//   - Customers get an id of their own per idempotency key.
//   - PaymentIntents (the off-session charges) get an id of their own, keep
//     their metadata, answer a repeated idempotency key with the first
//     answer as Stripe does, and succeed, decline or ask for
//     authentication as the test says (ChargeWith).
//   - GET /v1/events lists the events a test added (AddEvent), newest
//     first, filtered and paged as Stripe's API does.

// Charge outcomes for ChargeWith.
const (
	ChargeSucceeds             = "succeeds"
	ChargeDeclined             = "card_declined"
	ChargeAuthenticationNeeded = "authentication_required"
	chargeAnswerLost           = "answer_lost"
)

// Charge is one PaymentIntent the proxy created.
type Charge struct {
	ID             string
	IdempotencyKey string
	AmountCents    int64
	Currency       string
	Customer       string
	PaymentMethod  string
	OffSession     bool
	Confirm        bool
	Metadata       map[string]string
	// Requests counts the creation requests answered with this charge
	// (repeats with the same idempotency key included).
	Requests int
}

type automation struct {
	outcome   string
	slow      time.Duration // how long a new charge's answer waits (SlowChargeAnswers)
	lose      int           // answers still to lose after creating (ChargeAnswersLost)
	charges   []*Charge
	byKey     map[string]*Charge
	customers map[string]string // idempotency key → customer id
	events    []json.RawMessage
}

func newAutomation() automation {
	return automation{outcome: ChargeSucceeds, byKey: map[string]*Charge{}, customers: map[string]string{}}
}

// ChargeWith makes the next off-session charges end as outcome
// (ChargeSucceeds, ChargeDeclined, ChargeAuthenticationNeeded).
func (s *Stripe) ChargeWith(outcome string) {
	s.mu.Lock()
	s.auto.outcome = outcome
	s.mu.Unlock()
}

// LoseChargeAnswers makes the next n PaymentIntent creations happen at
// "Stripe" but answer 500, as when a process dies, or the network drops,
// after Stripe charged and before the answer arrived.
func (s *Stripe) LoseChargeAnswers(n int) {
	s.mu.Lock()
	s.auto.lose = n
	s.mu.Unlock()
}

// SlowChargeAnswers makes the answer to each new PaymentIntent wait d
// after the charge was made at "Stripe" (a repeat of its idempotency key
// answers at once): a drill kills the wallet in between.
func (s *Stripe) SlowChargeAnswers(d time.Duration) {
	s.mu.Lock()
	s.auto.slow = d
	s.mu.Unlock()
}

// Charges returns the PaymentIntents created so far.
func (s *Stripe) Charges() []Charge {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Charge, len(s.auto.charges))
	for i, c := range s.auto.charges {
		out[i] = *c
	}
	return out
}

// AddEvent adds a (built, unsigned) event payload to what GET /v1/events
// lists.
func (s *Stripe) AddEvent(payload []byte) {
	s.mu.Lock()
	s.auto.events = append(s.auto.events, json.RawMessage(payload))
	s.mu.Unlock()
}

func (s *Stripe) serveAutomation(w http.ResponseWriter, r *http.Request, body []byte) bool {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents":
		s.createPaymentIntent(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/customers":
		s.createCustomer(w, r, body)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/events":
		s.listEvents(w, r)
	default:
		return false
	}
	return true
}

func randomID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Stripe) createCustomer(w http.ResponseWriter, r *http.Request, body []byte) {
	status, _, resp, err := s.forward(r, body)
	if err != nil || status != http.StatusOK {
		http.Error(w, fmt.Sprintf("stripe-mock: %d %v", status, err), http.StatusBadGateway)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	id, ok := s.auto.customers[key]
	if !ok || key == "" {
		id = randomID("cus_")
		s.auto.customers[key] = id
	}
	s.mu.Unlock()
	var obj map[string]any
	if json.Unmarshal(resp, &obj) != nil {
		http.Error(w, "stripe-mock: customer is not JSON", http.StatusBadGateway)
		return
	}
	obj["id"] = id
	writeJSON(w, http.StatusOK, obj)
}

func (s *Stripe) createPaymentIntent(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	c, seen := s.auto.byKey[key]
	if !seen || key == "" {
		amount, _ := strconv.ParseInt(form.Get("amount"), 10, 64)
		md := map[string]string{}
		for k, v := range form {
			if name, ok := strings.CutPrefix(k, "metadata["); ok && strings.HasSuffix(name, "]") && len(v) > 0 {
				md[strings.TrimSuffix(name, "]")] = v[0]
			}
		}
		c = &Charge{ID: randomID("pi_"), IdempotencyKey: key, AmountCents: amount, Currency: form.Get("currency"),
			Customer: form.Get("customer"), PaymentMethod: form.Get("payment_method"),
			OffSession: form.Get("off_session") == "true", Confirm: form.Get("confirm") == "true", Metadata: md}
		s.auto.charges = append(s.auto.charges, c)
		s.auto.byKey[key] = c
		s.intents[c.ID] = md
	}
	c.Requests++
	outcome, lose, slow := s.auto.outcome, s.auto.lose > 0, s.auto.slow
	if seen {
		slow = 0
	}
	if lose {
		s.auto.lose--
	}
	charge := *c
	s.mu.Unlock()
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-r.Context().Done(): // the caller is gone (killed)
			return
		}
	}
	if lose {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"type": "api_error", "message": "stripemocktest: answer lost"}})
		return
	}
	pi := map[string]any{"id": charge.ID, "object": "payment_intent", "amount": charge.AmountCents, "currency": charge.Currency,
		"customer": charge.Customer, "payment_method": charge.PaymentMethod, "metadata": charge.Metadata,
		"created": time.Now().Unix(), "livemode": false}
	if outcome == ChargeSucceeds {
		pi["status"], pi["amount_received"] = "succeeded", charge.AmountCents
		writeJSON(w, http.StatusOK, pi)
		return
	}
	pi["status"] = "requires_payment_method"
	e := map[string]any{"type": "card_error", "code": outcome, "message": "stripemocktest: " + outcome, "payment_intent": pi}
	if outcome == ChargeDeclined {
		e["decline_code"] = "insufficient_funds"
	}
	w.Header().Set("Stripe-Should-Retry", "false")
	writeJSON(w, http.StatusPaymentRequired, map[string]any{"error": e})
}

// listEvents answers GET /v1/events from the added events: created[gte],
// types[], limit and starting_after, newest first, with has_more.
func (s *Stripe) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	gte, _ := strconv.ParseInt(q.Get("created[gte]"), 10, 64)
	types := q["types[]"]
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	s.mu.Lock()
	all := slices.Clone(s.auto.events)
	s.mu.Unlock()
	type head struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Created int64  `json:"created"`
	}
	var picked []json.RawMessage
	var heads []head
	for i := len(all) - 1; i >= 0; i-- { // newest first
		var h head
		if json.Unmarshal(all[i], &h) != nil || h.Created < gte || (len(types) > 0 && !slices.Contains(types, h.Type)) {
			continue
		}
		picked, heads = append(picked, all[i]), append(heads, h)
	}
	start := 0
	if after := q.Get("starting_after"); after != "" {
		for i, h := range heads {
			if h.ID == after {
				start = i + 1
			}
		}
	}
	end := min(start+limit, len(picked))
	page := picked[start:end]
	if page == nil {
		page = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "url": "/v1/events", "has_more": end < len(picked), "data": page})
}
