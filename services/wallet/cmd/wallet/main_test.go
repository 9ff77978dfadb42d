package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/process"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = process.Run(context.Background(), wallet, args, process.Stdio{Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// TestDevPayRefusedInProduction: dev-pay signs with the configured webhook
// secret; in production it must not run at all, even with every secret set.
func TestDevPayRefusedInProduction(t *testing.T) {
	t.Setenv("APP_ENV", "production")
	t.Setenv("INTERNAL_AUTH_SECRET", strings.Repeat("s", 40))
	t.Setenv("STRIPE_SECRET_KEY", "sk_test_a_real_looking_key")
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_a_real_looking_secret")
	t.Setenv("PUBLIC_BASE_URL", "https://app.example.com")
	code, stdout, stderr := run("dev-pay", "--topup", uuid.NewString(), "--webhook-url", "http://127.0.0.1:1/v1/webhooks/stripe")
	if code != process.ExitFailure || stderr != "wallet dev-pay: refused: for local development only (APP_ENV=production)\n" || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dev-pay"}, "wallet dev-pay: --topup is required\nusage: wallet dev-pay --topup ID [--webhook-url URL]\n"},
		{[]string{"verify", "--all"}, `wallet verify: takes no arguments, got "--all"`},
		{[]string{"parked", "now"}, `wallet parked: takes no arguments, got "now"`},
	} {
		code, _, stderr := run(tc.args...)
		if code != process.ExitUsage || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestDatabaseOnlyCommandsNeedNoSecrets: migrate, verify and parked run in
// production with DATABASE_URL alone (regression: the init container and
// the verify CronJob had to be given the serving secrets); serve still
// refuses to start without them. Not parallel: t.Setenv.
func TestDatabaseOnlyCommandsNeedNoSecrets(t *testing.T) {
	_, url := dbtest.New(t, nil)
	t.Setenv("APP_ENV", "production")
	t.Setenv("DATABASE_URL", url)
	for _, v := range []string{"INTERNAL_AUTH_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"} {
		t.Setenv(v, "")
	}
	for _, cmd := range []string{"migrate", "verify", "parked"} {
		if code, _, stderr := run(cmd); code != process.ExitOK {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, stderr)
		}
	}
	if code, _, stderr := run("serve"); code != process.ExitFailure || !strings.Contains(stderr, "INTERNAL_AUTH_SECRET is required in production") {
		t.Errorf("serve without secrets: exit %d, stderr %q", code, stderr)
	}
}
