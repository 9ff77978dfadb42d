package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Commands are the product's commands by name, as `go build` finds them
// (through this module's requirements, from any directory of the workspace).
var Commands = map[string]string{
	"identity": "github.com/meterflow/meterflow/services/identity/cmd/identity",
	"wallet":   "github.com/meterflow/meterflow/services/wallet/cmd/wallet",
	"workflow": "github.com/meterflow/meterflow/services/workflow/cmd/workflow",
	"notify":   "github.com/meterflow/meterflow/services/notify/cmd/notify",
	"gateway":  "github.com/meterflow/meterflow/gateway/cmd/gateway",
}

// Build compiles the named commands (keys of Commands) into dir.
func Build(dir string, names ...string) error {
	for _, name := range names {
		pkg, ok := Commands[name]
		if !ok {
			return fmt.Errorf("stack: no command %q", name)
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v: %s", name, err, out)
		}
	}
	return nil
}

// Proc is one of the product's commands run as an OS process, as a
// deployment runs it: the drills SIGKILL and restart it, the bench measures
// it. Set the exported fields, then Start; Start again after Kill or
// Terminate runs it anew with the same settings (the log is appended to).
type Proc struct {
	Name string
	// Addr is where it serves (for the caller; set it in Env too).
	Addr string
	// Bin is the executable; Args its arguments (default: serve).
	Bin  string
	Args []string
	Env  []string
	// LogPath receives the process's stdout and stderr.
	LogPath string
	// Ready reports whether the process serves (GRPCServing, HTTPReady);
	// Start polls it every few milliseconds for up to ReadyWithin (20 s).
	Ready       func(ctx context.Context) bool
	ReadyWithin time.Duration
	// DieWithParent has the kernel SIGTERM the process when the launcher
	// dies without stopping it.
	DieWithParent bool

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
	exitErr   error
	kills     int
	readyTook time.Duration
}

// Launch execs the process and returns once it runs, without waiting for
// it to serve (WaitReady does).
func (p *Proc) Launch() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if p.cmd == nil && p.done == nil {
		flags |= os.O_TRUNC // the first start of this Proc begins a fresh log
	}
	logs, err := os.OpenFile(p.LogPath, flags, 0o600)
	if err != nil {
		return err
	}
	args := p.Args
	if args == nil {
		args = []string{"serve"}
	}
	cmd := exec.Command(p.Bin, args...)
	cmd.Env = p.Env
	cmd.Stdout, cmd.Stderr = logs, logs
	if p.DieWithParent {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	}
	if err := cmd.Start(); err != nil {
		_ = logs.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		_ = logs.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Start launches the process and waits until it serves. It returns an
// error rather than failing a test: the drills call it from chaos
// goroutines.
func (p *Proc) Start(ctx context.Context) error {
	begin := time.Now()
	if err := p.Launch(); err != nil {
		return err
	}
	if err := p.WaitReady(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	p.readyTook = time.Since(begin)
	p.mu.Unlock()
	return nil
}

// WaitReady polls Ready until it holds, the process exits, ReadyWithin
// passes or ctx ends.
func (p *Proc) WaitReady(ctx context.Context) error {
	within := p.ReadyWithin
	if within == 0 {
		within = 20 * time.Second
	}
	done := p.Done()
	deadline := time.Now().Add(within)
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		ok := p.Ready(pctx)
		cancel()
		if ok {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before serving; its log %s ends:\n%s", p.Name, p.LogPath, Tail(p.LogPath, 4096))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not serving after %s (log in %s)", p.Name, within, p.LogPath)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	p.mu.Lock()
	p.cmd = nil
	p.kills++
	p.mu.Unlock()
}

// Terminate sends SIGTERM, as the kubelet does, and waits at most within
// for the process to exit (then SIGKILLs it). It returns the process's
// exit error (nil for status 0), or an error saying it did not exit in time.
func (p *Proc) Terminate(within time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-done:
		err = p.ExitErr()
	case <-time.After(within):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		err = fmt.Errorf("%s did not exit within %s of SIGTERM", p.Name, within)
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	return err
}

// Done is closed when the current (last launched) process exits.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Exited reports whether the last launched process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// ExitErr is the last process's exit error, once it has exited.
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Pid is the running process's id, or 0.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kills counts the SIGKILLs sent.
func (p *Proc) Kills() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills
}

// ReadyAfter is the time the last Start took from exec to serving.
func (p *Proc) ReadyAfter() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyTook
}

// GRPCServing returns a readiness probe: the gRPC health check of the
// service at addr answers SERVING.
func GRPCServing(addr string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return false
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}
}

// HTTPReady returns a readiness probe: GET url answers 200 (the gateway's
// /readyz).
func HTTPReady(url string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// Tail returns the last n bytes of the file at path (for a log in a
// failure message); "" when it cannot be read.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
