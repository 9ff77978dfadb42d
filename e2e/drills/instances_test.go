//go:build drills

package drills

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/meterflow/meterflow/platform/process"
)

// The rolling-restart and old-schema drills run every process as a real
// binary, several instances of one at a time, behind a balancer that
// plays the Kubernetes Service. Their helpers are here, apart from the
// harness the other drills share.

var (
	allBinsOnce sync.Once
	allBinsErr  error
)

// allBinaries builds identity and the gateway next to the wallet and
// workflow commands of binaries (TestMain removes the directory).
func allBinaries(t testing.TB) string {
	t.Helper()
	dir := binaries(t)
	allBinsOnce.Do(func() {
		for pkg, name := range map[string]string{
			"github.com/meterflow/meterflow/services/identity/cmd/identity": "identity",
			"github.com/meterflow/meterflow/gateway/cmd/gateway":            "gateway",
		} {
			if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput(); err != nil {
				allBinsErr = fmt.Errorf("go build %s: %v: %s", name, err, out)
				return
			}
		}
	})
	if allBinsErr != nil {
		t.Fatal(allBinsErr)
	}
	return dir
}

// instance is one running process of a binary, on its own address.
type instance struct {
	name, addr, logPath string
	cmd                 *exec.Cmd
	done                chan struct{}
	exitErr             error
}

// startInstance runs `bin serve` with env on addr, which the caller has
// put in env, and returns as soon as the process runs; waitReady checks
// that it serves.
func startInstance(t testing.TB, name, bin, addr, logDir string, env []string) *instance {
	t.Helper()
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%s.log", name, randomHex()))
	logs, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	in := &instance{name: name, addr: addr, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		in.exitErr = cmd.Wait()
		_ = logs.Close()
		close(in.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-in.done
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s logs (last 4 KiB):\n%s", name, tail(b, 4096))
		}
	})
	return in
}

// terminate sends SIGTERM, as the kubelet does after preStop, and waits at
// most within for the process to exit; it returns the process's error (nil
// for exit status 0).
func (in *instance) terminate(within time.Duration) error {
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
		return in.exitErr
	case <-time.After(within):
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
		<-in.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM", in.name, within)
	}
}

// exited reports whether the process has ended.
func (in *instance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// waitHTTPReady polls GET /readyz on addr until it answers 200.
func waitHTTPReady(addr string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 500 * time.Millisecond}
	for {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited before serving")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready on %s after %s: %v", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// healthOf asks a service's gRPC health check once and returns its status
// and the reason it gives for not serving.
func healthOf(addr string) (healthpb.HealthCheckResponse_ServingStatus, string, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	if err != nil {
		return 0, "", err
	}
	return resp.GetStatus(), process.UnreadyReason(md), nil
}

// balancer plays a Kubernetes Service in front of a process's instances:
// each new TCP connection goes to one of the current backends (round
// robin); a backend taken out gets no new connection, and the ones it has
// stay until its process closes them, as with kube-proxy.
type balancer struct {
	lis net.Listener

	mu       sync.Mutex
	backends []string
	next     int
}

func newBalancer(t testing.TB) *balancer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{lis: lis}
	t.Cleanup(func() { _ = lis.Close() })
	go b.accept()
	return b
}

// addr is where clients reach the balanced process.
func (b *balancer) addr() string { return b.lis.Addr().String() }

// set replaces the backends (the endpoints of the Service).
func (b *balancer) set(backends ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = backends
}

func (b *balancer) pick() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.backends) == 0 {
		return ""
	}
	b.next++
	return b.backends[b.next%len(b.backends)]
}

func (b *balancer) accept() {
	for {
		c, err := b.lis.Accept()
		if err != nil {
			return
		}
		go b.forward(c)
	}
}

func (b *balancer) forward(c net.Conn) {
	backend := b.pick()
	if backend == "" {
		_ = c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", backend, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	_ = up.Close()
}
