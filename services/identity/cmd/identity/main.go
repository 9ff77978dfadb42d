// Command identity runs the identity service and its operator commands:
//
//	identity [serve]                 serve gRPC (and metrics) until SIGINT/SIGTERM
//	identity migrate                 create the database if missing, apply migrations
//	identity create-admin --email E [--promote-existing]
//	                                 create an admin (or promote an existing account); password on stdin
//	identity keygen --out FILE       write a new Ed25519 signing key (PEM, mode 0600)
//	identity healthcheck             exit 0 if the service on GRPC_ADDR is SERVING
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/identity/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx)
	case "migrate":
		return migrate(ctx)
	case "create-admin":
		return createAdmin(ctx, args)
	case "keygen":
		return keygen(args)
	case "healthcheck":
		return healthcheck(ctx)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, create-admin, keygen or healthcheck)", cmd)
	}
}

func serve(ctx context.Context) error {
	log := telemetry.NewLogger(app.Service, os.Stdout)
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("identity: config: %w", err)
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, app.Service)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.WithoutCancel(ctx)) }()

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	defer a.Close()
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("identity: listen on GRPC_ADDR %s: %w", cfg.GRPCAddr, err)
	}
	return a.Serve(ctx, lis)
}

func migrate(ctx context.Context) error {
	log := telemetry.NewLogger(app.Service, os.Stdout)
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("identity: config: %w", err)
	}
	if err := app.Migrate(ctx, cfg.DatabaseURL, log); err != nil {
		return fmt.Errorf("identity migrate: %w", err)
	}
	log.InfoContext(ctx, "database is up to date")
	return nil
}

func createAdmin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	email := fs.String("email", "", "email of the admin to create (password on standard input)")
	promote := fs.Bool("promote-existing", false, "if the email already has an account: make it an admin, replace its password with the one given, mark its email verified and end all its logins")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || fs.NArg() > 0 {
		return errors.New("usage: identity create-admin --email E [--promote-existing]   (password on standard input)")
	}
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("identity: config: %w", err)
	}
	// Migration logs go to stderr so stdout carries only the result.
	if err := app.Migrate(ctx, cfg.DatabaseURL, telemetry.NewLogger(app.Service, os.Stderr)); err != nil {
		return fmt.Errorf("identity create-admin: %w", err)
	}
	password, err := readPassword(os.Stdin, os.Stderr)
	if err != nil {
		return fmt.Errorf("identity create-admin: %w", err)
	}
	create := app.CreateAdmin
	if *promote {
		create = app.CreateOrPromoteAdmin
	}
	res, err := create(ctx, cfg, *email, password)
	if errors.Is(err, app.ErrAccountExists) {
		return fmt.Errorf("identity create-admin: an account with email %s already exists; nothing was changed.\n"+
			"To make it an admin, run again with --promote-existing: the account's password is replaced with the one given,\n"+
			"its email is marked verified and every login of it ends (whoever signed up with this email keeps no access)", strings.TrimSpace(*email))
	}
	if err != nil {
		return err
	}
	if res.Created {
		fmt.Printf("created admin %s (id %s)\n", res.Email, res.UserID)
	} else {
		fmt.Printf("promoted existing user %s (id %s) to admin: password replaced, email marked verified, every refresh token revoked\n", res.Email, res.UserID)
		if !res.IsActive {
			fmt.Println("note: this account is disabled; enable it from another admin account")
		}
	}
	return nil
}

// readPassword reads one line: without echo when stdin is a terminal,
// otherwise from the pipe (e.g. `echo "$PW" | identity create-admin ...`).
func readPassword(stdin *os.File, prompt io.Writer) (string, error) {
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

func keygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "", "file to write the new PEM private key to (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: identity keygen --out FILE")
	}
	kid, err := app.GenerateKeyFile(*out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote Ed25519 signing key %s (kid %s)\n", *out, kid)
	return nil
}

func healthcheck(ctx context.Context) error {
	addr := os.Getenv("GRPC_ADDR")
	if addr == "" {
		addr = "127.0.0.1:50051"
	}
	return grpcservice.Healthcheck(ctx, addr)
}
