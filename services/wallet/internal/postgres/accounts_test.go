package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// TestGetWalletAgreesWithGetWallets: the one-row read of GET /v1/wallet
// returns what the many-row read returns for the same user, and no
// account for a user who has none.
func TestGetWalletAgreesWithGetWallets(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	funded, empty := uuid.New(), uuid.New()
	seed(t, s, funded, 250)
	for _, tc := range []struct {
		name   string
		user   uuid.UUID
		exists bool
	}{
		{"funded", funded, true},
		{"no account", empty, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := s.GetWallet(ctx, tc.user)
			if err != nil || ok != tc.exists {
				t.Fatalf("GetWallet = %+v, %v, %v; want exists %v", got, ok, err, tc.exists)
			}
			ws, err := s.GetWallets(ctx, []uuid.UUID{tc.user})
			if err != nil {
				t.Fatal(err)
			}
			if want, found := ws[tc.user]; found != ok || got != want {
				t.Fatalf("GetWallet = %+v (%v), GetWallets = %+v (%v)", got, ok, want, found)
			}
		})
	}
}
