// Command identity runs the identity service and its operator commands;
// `identity help` lists them.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/services/identity/app"
)

func main() { process.Main(identity) }

var identity = process.Process[app.Config, *app.App]{
	Name:    app.Service,
	Summary: "the identity service: users, passwords, refresh tokens and the keys that sign access tokens",
	Serves:  "serve gRPC on GRPC_ADDR and metrics on METRICS_ADDR",
	Config:  app.ConfigFromEnv,
	New:     app.New,
	Listen:  process.GRPC(func(c app.Config) string { return c.GRPCAddr }),
	Migrate: func(ctx context.Context, c app.Config, log *slog.Logger) error {
		return app.Migrate(ctx, c.DatabaseURL, log)
	},
	DatabaseConfig: app.DatabaseConfigFromEnv,
	Schema:         app.SchemaCheck,
	Commands: []process.Command[app.Config]{
		{Name: "create-admin", Args: "--email E [--promote-existing]", Summary: "create an admin (or promote an existing account); password on stdin", Run: createAdmin},
		{Name: "keygen", Args: "--out FILE", Summary: "write a new Ed25519 signing key (PEM, mode 0600)", Run: keygen},
	},
}

func createAdmin(ctx context.Context, call *process.Call[app.Config]) error {
	email := call.Flags().String("email", "", "email of the admin to create (password on standard input)")
	promote := call.Flags().Bool("promote-existing", false, "if the email already has an account: make it an admin, replace its password with the one given, mark its email verified and end all its logins")
	if err := call.Parse(); err != nil {
		return err
	}
	if *email == "" {
		return call.Usagef("--email is required")
	}
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	// Migration logs go to stderr so stdout carries only the result.
	if err := app.Migrate(ctx, cfg.DatabaseURL, call.Logger()); err != nil {
		return err
	}
	password, err := readPassword(call.In, call.Err)
	if err != nil {
		return err
	}
	create := app.CreateAdmin
	if *promote {
		create = app.CreateOrPromoteAdmin
	}
	res, err := create(ctx, cfg, *email, password)
	if errors.Is(err, app.ErrAccountExists) {
		return fmt.Errorf("an account with email %s already exists; nothing was changed.\n"+
			"To make it an admin, run again with --promote-existing: the account's password is replaced with the one given,\n"+
			"its email is marked verified and every login of it ends (whoever signed up with this email keeps no access)", strings.TrimSpace(*email))
	}
	if err != nil {
		return err
	}
	if res.Created {
		fmt.Fprintf(call.Out, "created admin %s (id %s)\n", res.Email, res.UserID)
	} else {
		fmt.Fprintf(call.Out, "promoted existing user %s (id %s) to admin: password replaced, email marked verified, every refresh token revoked\n", res.Email, res.UserID)
		if !res.IsActive {
			fmt.Fprintln(call.Out, "note: this account is disabled; enable it from another admin account")
		}
	}
	return nil
}

// readPassword reads one line: without echo when stdin is a terminal,
// otherwise from the pipe (e.g. `echo "$PW" | identity create-admin ...`).
func readPassword(stdin *os.File, prompt io.Writer) (string, error) {
	if stdin == nil {
		return "", errors.New("no standard input to read the password from")
	}
	if fd := int(stdin.Fd()); term.IsTerminal(fd) {
		fmt.Fprint(prompt, "Password: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// keygen needs no configuration: it runs before there is one.
func keygen(ctx context.Context, call *process.Call[app.Config]) error {
	out := call.Flags().String("out", "", "file to write the new PEM private key to (must not exist)")
	if err := call.Parse(); err != nil {
		return err
	}
	if *out == "" {
		return call.Usagef("--out is required")
	}
	kid, err := app.GenerateKeyFile(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(call.Out, "wrote Ed25519 signing key %s (kid %s)\n", *out, kid)
	return nil
}
