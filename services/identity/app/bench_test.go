package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/app"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

// BenchmarkLogin measures a whole Login over gRPC with the production
// argon2id parameters (19 MiB, 2 iterations, 1 lane): almost all of it is
// the hash. Each iteration uses its own account so the throttle never
// interferes.
func BenchmarkLogin(b *testing.B) {
	pool, url := dbtest.New(b, migrations.FS)
	bb := startOn(b, pool, url, nil, app.DefaultArgon2Params)
	const users = 8
	for i := range users {
		bb.signUp(fmt.Sprintf("bench%d@example.com", i))
	}
	i := 0
	for b.Loop() {
		_, err := bb.client.Login(context.Background(), &identityv1.LoginRequest{Email: fmt.Sprintf("bench%d@example.com", i%users), Password: password})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLoginUnknownEmail measures the dummy-hash path, which should
// cost about the same as BenchmarkLogin.
func BenchmarkLoginUnknownEmail(b *testing.B) {
	pool, url := dbtest.New(b, migrations.FS)
	bb := startOn(b, pool, url, nil, app.DefaultArgon2Params)
	i := 0
	for b.Loop() {
		_, err := bb.client.Login(context.Background(), &identityv1.LoginRequest{Email: fmt.Sprintf("ghost%d@example.com", i), Password: password})
		if err == nil {
			b.Fatal("unknown email logged in")
		}
		i++
	}
}

// benchmarkPasswordReset measures RequestPasswordReset over gRPC for
// email; known and unknown addresses must cost about the same (OWASP's
// Forgot Password rules): both insert and commit one job, and the work
// that differs runs later, in the job.
func benchmarkPasswordReset(b *testing.B, email string) {
	pool, url := dbtest.New(b, migrations.FS)
	bb := startOn(b, pool, url, nil, fastArgon2)
	bb.signUp("known@example.com")
	for b.Loop() {
		if _, err := bb.client.RequestPasswordReset(context.Background(), &identityv1.RequestPasswordResetRequest{Email: email}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPasswordResetKnownEmail: a reset request for an account.
func BenchmarkPasswordResetKnownEmail(b *testing.B) { benchmarkPasswordReset(b, "known@example.com") }

// BenchmarkPasswordResetUnknownEmail: a reset request for no account;
// compare with BenchmarkPasswordResetKnownEmail.
func BenchmarkPasswordResetUnknownEmail(b *testing.B) {
	benchmarkPasswordReset(b, "unknown@example.com")
}
