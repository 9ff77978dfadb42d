// Package process is the skeleton every Meterflow binary runs on: one
// table of subcommands (serve by default, migrate, healthcheck, help and
// the process's own), one lifecycle for serve (logger, configuration and
// its warnings, tracing, New → Serve → Close), one healthcheck, one way to
// report errors and exit. A binary's main is a Process literal handed to
// Main; docs/architecture.md shows one.
package process

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// Exit statuses of every binary.
const (
	ExitOK      = 0 // the command did what it says
	ExitFailure = 1 // it failed (for healthcheck: the process is not ready)
	ExitUsage   = 2 // it was called wrongly: unknown command, bad flags or arguments
)

// Config is what the skeleton needs of a process's configuration: the
// common settings, which every Config gets by embedding envconfig.Common.
type Config interface {
	Base() envconfig.Common
}

// Server is a process built by New: it serves on a listener until its
// context ends, then releases what it holds when Close is called (once or
// more: Close is idempotent).
type Server interface {
	Serve(ctx context.Context, lis net.Listener) error
	Close()
}

// Process describes one binary. Name, Config, New and Listen are required;
// Migrate and Commands are what the process has beyond serve and
// healthcheck.
type Process[C Config, S Server] struct {
	// Name is the binary's name; it also names the service in logs and traces.
	Name string
	// Summary says in one line what the binary is (first line of `help`).
	Summary string
	// Serves says what serve does, for `help`.
	Serves string
	// Config reads the configuration from the environment (app.ConfigFromEnv).
	Config func() (C, error)
	// New builds the process without listening (app.New).
	New func(ctx context.Context, cfg C, log *slog.Logger) (S, error)
	// Listen is where serve listens and healthcheck asks: GRPC or HTTP.
	Listen Listener[C]
	// Migrate, when set, is the migrate command: create the database if it
	// is missing and apply the migrations. It is a database-only command.
	Migrate func(ctx context.Context, cfg C, log *slog.Logger) error
	// DatabaseConfig, when set, reads the configuration of database-only
	// commands (migrate, and commands with DatabaseOnly): DATABASE_URL and
	// what the logger reads, never the serving secrets, so an init
	// container or a CronJob runs them with the database's Secret alone.
	// The Config it returns holds only those settings. Without it, those
	// commands read the whole configuration (Config).
	DatabaseConfig func() (C, error)
	// Schema, when set, checks the database's schema before serve builds
	// the process: it returns "" when the schema is what this build needs,
	// the reason when it is older ("schema version 3, this build needs 4:
	// run `wallet migrate`"), or an error when it cannot tell (then serve
	// fails, as New would on an unreachable database). With a reason, serve
	// waits unready (see waitForSchema).
	Schema func(ctx context.Context, cfg C) (behind string, err error)
	// SchemaRecheck is how often a process waiting for its schema checks
	// again; DefaultSchemaRecheck when zero.
	SchemaRecheck time.Duration
	// Commands are the process's own commands (operator tools).
	Commands []Command[C]
}

// Command is one subcommand of a binary.
type Command[C Config] struct {
	// Name is what the operator types: `wallet verify`.
	Name string
	// Args is the synopsis of its flags and arguments, for usage lines.
	Args string
	// Summary says in one line what it does.
	Summary string
	// DatabaseOnly commands read their configuration with the process's
	// DatabaseConfig (Call.Config): they need the database and nothing
	// else, like `wallet verify`.
	DatabaseOnly bool
	// Run runs it. A usage error (Call.Usagef, a bad flag) exits 2, any
	// other error 1; either is printed once by the skeleton, prefixed with
	// the binary and command names, so Run does not add them.
	Run func(ctx context.Context, call *Call[C]) error
}

// Main runs the command named by os.Args until it returns or, for serve,
// until SIGINT or SIGTERM has drained the process, and exits with its
// status. It is all a binary's main function does.
func Main[C Config, S Server](p Process[C, S]) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, p, os.Args[1:], Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}

// Stdio are a command's standard streams (Main passes the process's own;
// tests pass buffers).
type Stdio struct {
	In       *os.File
	Out, Err io.Writer
}

// Run runs the command that args name (serve when args is empty) and
// returns the exit status: ExitOK, ExitFailure or ExitUsage. Errors are
// printed to stdio.Err, once.
func Run[C Config, S Server](ctx context.Context, p Process[C, S], args []string, stdio Stdio) int {
	if p.Name == "" || p.Config == nil || p.New == nil || p.Listen.Addr == nil || p.Listen.probe == nil {
		fmt.Fprintf(stdio.Err, "%s: the process is wired without Name, Config, New or Listen (process.GRPC or process.HTTP)\n", p.Name)
		return ExitFailure
	}
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		fmt.Fprint(stdio.Out, p.usage())
		return ExitOK
	}
	cmd, ok := p.command(name)
	if !ok {
		fmt.Fprintf(stdio.Err, "%s: unknown command %q\n\n%s", p.Name, name, p.usage())
		return ExitUsage
	}
	read := p.Config
	if cmd.DatabaseOnly && p.DatabaseConfig != nil {
		read = p.DatabaseConfig
	}
	call := &Call[C]{Name: p.Name + " " + cmd.Name, Args: args, Stdio: stdio, process: p.Name, read: read, synopsis: cmd.Args}
	err := cmd.Run(ctx, call)
	var usage *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdio.Out, call.usage())
		return ExitOK
	case errors.As(err, &usage):
		fmt.Fprintf(stdio.Err, "%s: %v\n%s", call.Name, usage.err, call.usage())
		return ExitUsage
	default:
		fmt.Fprintf(stdio.Err, "%s: %v\n", call.Name, err)
		return ExitFailure
	}
}

// commands is the binary's table: serve, migrate (when the process has
// one), its own commands, healthcheck.
func (p Process[C, S]) commands() []Command[C] {
	serves := p.Serves
	if serves == "" {
		serves = "serve on " + p.Listen.Var
	}
	cmds := []Command[C]{{Name: "serve", Summary: serves + " until SIGINT or SIGTERM (the default)", Run: NoArgs(p.serve)}}
	if p.Migrate != nil {
		cmds = append(cmds, Command[C]{Name: "migrate", Summary: "create the database if it is missing, apply the migrations (reads DATABASE_URL, no secrets)",
			DatabaseOnly: true, Run: NoArgs(p.migrate)})
	}
	cmds = append(cmds, p.Commands...)
	return append(cmds,
		Command[C]{Name: "healthcheck", Summary: "exit 0 if " + p.Listen.probeDoc, Run: NoArgs(p.healthcheck)},
		Command[C]{Name: "version", Summary: "print the version and commit this binary was built from", Run: NoArgs(p.version)},
	)
}

func (p Process[C, S]) command(name string) (Command[C], bool) {
	for _, c := range p.commands() {
		if c.Name == name {
			return c, true
		}
	}
	return Command[C]{}, false
}

// usage is the text of `help`: one line per command, the command's name
// first (deploy's tests read the names from it).
func (p Process[C, S]) usage() string {
	var b strings.Builder
	if p.Summary != "" {
		fmt.Fprintf(&b, "%s: %s\n", p.Name, p.Summary)
	}
	fmt.Fprintf(&b, "version %s\n\n", telemetry.BuildString())
	fmt.Fprintf(&b, "usage: %s [command] [flags]\n\ncommands:\n", p.Name)
	for _, c := range p.commands() {
		fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(c.Name+" "+c.Args))
		fmt.Fprintf(&b, "      %s\n", c.Summary)
	}
	fmt.Fprintf(&b, "  help\n      print this text\n")
	return b.String()
}

// noArgs adapts a built-in command that takes no arguments.
func NoArgs[C Config](run func(ctx context.Context, call *Call[C]) error) func(context.Context, *Call[C]) error {
	return func(ctx context.Context, call *Call[C]) error {
		if len(call.Args) > 0 {
			return call.Usagef("takes no arguments, got %q", strings.Join(call.Args, " "))
		}
		return run(ctx, call)
	}
}

// Call is one run of a command: its arguments, streams and configuration.
type Call[C Config] struct {
	// Name is the binary and command, as in "wallet dev-pay".
	Name string
	// Args are the arguments after the command's name.
	Args []string
	Stdio

	process  string
	read     func() (C, error)
	synopsis string
	flags    *flag.FlagSet
}

// Config reads the process's configuration from the environment. Commands
// that need none (keygen) do not call it, so they run without one.
func (c *Call[C]) Config() (C, error) {
	cfg, err := c.read()
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// Logger returns the JSON logger of commands: on standard error, so that
// standard output carries only the command's result.
func (c *Call[C]) Logger() *slog.Logger {
	return newLogger(c.process, c.Err)
}

// Flags returns the command's flag set; Parse parses Args with it. The
// skeleton prints flag errors and the flags' defaults, once.
func (c *Call[C]) Flags() *flag.FlagSet {
	if c.flags == nil {
		c.flags = flag.NewFlagSet(c.Name, flag.ContinueOnError)
		c.flags.SetOutput(io.Discard)
	}
	return c.flags
}

// Parse parses Args with Flags. A bad flag or a left-over argument is a
// usage error; -h prints the command's usage and exits 0.
func (c *Call[C]) Parse() error {
	fs := c.Flags()
	if err := fs.Parse(c.Args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	if fs.NArg() > 0 {
		return c.Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Usagef returns a usage error: the skeleton prints it with the command's
// usage and exits 2.
func (c *Call[C]) Usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func (c *Call[C]) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n", strings.TrimSpace(c.Name+" "+c.synopsis))
	if c.flags != nil {
		c.flags.SetOutput(&b)
		c.flags.PrintDefaults()
		c.flags.SetOutput(io.Discard)
	}
	return b.String()
}

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }
