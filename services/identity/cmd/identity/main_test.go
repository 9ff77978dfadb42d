package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/process"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = process.Run(context.Background(), identity, args, process.Stdio{Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// TestKeygen: keygen needs no configuration (it runs before there is one:
// here APP_ENV is production without a single secret), writes a key only
// its owner reads, and never overwrites one.
func TestKeygen(t *testing.T) {
	t.Setenv("APP_ENV", "production")
	t.Setenv("INTERNAL_AUTH_SECRET", "")
	key := filepath.Join(t.TempDir(), "jwt.pem")
	code, stdout, stderr := run("keygen", "--out", key)
	if code != process.ExitOK || !strings.HasPrefix(stdout, "wrote Ed25519 signing key "+key+" (kid ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	code, _, stderr = run("keygen", "--out", key)
	if code != process.ExitFailure || !strings.HasPrefix(stderr, "identity keygen: ") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("second keygen: exit %d, stderr %q; want 1 and one line", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create-admin"}, "identity create-admin: --email is required\nusage: identity create-admin --email E [--promote-existing]\n"},
		{[]string{"create-admin", "--email", "ops@example.com", "now"}, `identity create-admin: unexpected argument "now"`},
		{[]string{"keygen"}, "identity keygen: --out is required\nusage: identity keygen --out FILE\n"},
		{[]string{"--bogus"}, `identity: unknown command "--bogus"`}, // it once started the server
	} {
		code, _, stderr := run(tc.args...)
		if code != process.ExitUsage || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, stdout, _ := run("help"); code != process.ExitOK || !strings.Contains(stdout, "\n  create-admin --email E [--promote-existing]\n") {
		t.Errorf("help: exit %d\n%s", code, stdout)
	}
}

// TestMigrateNeedsNoSecrets: migrate runs in production with DATABASE_URL
// alone (regression: it refused to run without INTERNAL_AUTH_SECRET and
// JWT_SIGNING_KEY_FILE, which the init container then had to be given);
// serve still refuses to start without them. Not parallel: t.Setenv.
func TestMigrateNeedsNoSecrets(t *testing.T) {
	_, url := dbtest.New(t, nil)
	t.Setenv("APP_ENV", "production")
	t.Setenv("DATABASE_URL", url)
	t.Setenv("INTERNAL_AUTH_SECRET", "")
	t.Setenv("JWT_SIGNING_KEY_FILE", "")
	if code, _, stderr := run("migrate"); code != process.ExitOK {
		t.Fatalf("migrate: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := run("serve"); code != process.ExitFailure || !strings.Contains(stderr, "JWT_SIGNING_KEY_FILE is required in production") {
		t.Errorf("serve without secrets: exit %d, stderr %q", code, stderr)
	}
}
