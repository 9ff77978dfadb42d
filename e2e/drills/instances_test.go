//go:build drills

package drills

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	e2e "github.com/meterflow/meterflow/e2e/stack"
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
	allBinsOnce.Do(func() { allBinsErr = e2e.Build(dir, "identity", "gateway") })
	if allBinsErr != nil {
		t.Fatal(allBinsErr)
	}
	return dir
}

// startInstance runs `bin serve` with env on addr, which the caller has
// put in env, and returns as soon as the process runs; its WaitReady
// checks that it serves (the gateway's /readyz, a service's gRPC health).
// The test's end SIGKILLs what is left.
func startInstance(t testing.TB, name, bin, addr, logDir string, env []string) *e2e.Proc {
	t.Helper()
	ready := e2e.GRPCServing(addr)
	if name == "gateway" {
		ready = e2e.HTTPReady("http://" + addr + "/readyz")
	}
	in := &e2e.Proc{Name: name, Addr: addr, Bin: bin, Env: env, Ready: ready,
		LogPath: filepath.Join(logDir, fmt.Sprintf("%s-%s.log", name, e2e.RandomHex()))}
	if err := in.Launch(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Kill()
		if t.Failed() {
			t.Logf("%s logs (last 4 KiB):\n%s", name, e2e.Tail(in.LogPath, 4096))
		}
	})
	return in
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
