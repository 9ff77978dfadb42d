package api

import (
	"context"
	"net/http"
	"testing"

	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/gateway/internal/apikeyauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// cardWallet answers the saved-card session as the wallet does.
type cardWallet struct{ stubWallet }

func (cardWallet) CreatePaymentMethodSession(context.Context, *walletv1.CreatePaymentMethodSessionRequest, ...grpc.CallOption) (*walletv1.CreatePaymentMethodSessionResponse, error) {
	return &walletv1.CreatePaymentMethodSessionResponse{CheckoutUrl: "https://checkout.stripe.test/setup"}, nil
}

// TestSavingACardNeedsAVerifiedEmail: with REQUIRE_VERIFIED_EMAIL, saving a
// card for automatic top-ups waits for a verified email, as a top-up does;
// the body is optional.
func TestSavingACardNeedsAVerifiedEmail(t *testing.T) {
	t.Parallel()
	id := &accountIdentity{keyIdentity: newKeyIdentity()}
	keys, err := apikeyauth.New(id, apikeyauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, setupOpts{limits: Limits{AuthPerMinute: 1000, APIPerMinute: 1000, RunsPerMinute: 1000, TopUpsPerMinute: 1000},
		identityClient: id, apiKeys: keys, wallet: cardWallet{}, requireVerified: true})
	resp, body := b.do(t, withToken(newReq("POST", "/v1/wallet/payment-method", ""), b.loginToken(t, false)))
	wantProblem(t, resp, body, http.StatusForbidden, rpcerr.EmailNotVerified)
	if resp, body := b.do(t, withToken(newReq("POST", "/v1/wallet/payment-method", ""), b.loginToken(t, true))); resp.StatusCode != http.StatusCreated {
		t.Fatalf("verified, no body: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.do(t, withToken(newReq("POST", "/v1/wallet/payment-method", `{"success_url":"https://app.example.com/ok"}`), b.loginToken(t, true))); resp.StatusCode != http.StatusCreated {
		t.Fatalf("verified, with a body: %d %s", resp.StatusCode, body)
	}
}
