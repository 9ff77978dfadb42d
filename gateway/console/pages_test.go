package console

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/meterflow/meterflow/platform/callauth/authtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// TestPagesParse: the console parses its templates on the first page
// shown, not in New (an idle gateway does not hold them); every page must
// still parse, and this test is where a broken one fails.
func TestPagesParse(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}) // never dialed here
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := New(Config{SessionKey: DevSessionKey()}, Deps{
		Identity: struct {
			identityv1.IdentityServiceClient
		}{},
		Wallet: struct{ walletv1.WalletServiceClient }{},
		Workflow: struct {
			workflowv1.WorkflowServiceClient
		}{},
		Users: authtest.NewKeys(t).Verifier(),
		Redis: rdb,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ParsePages(); err != nil {
		t.Fatal(err)
	}
}
