// Package grpcstub serves test doubles of the services over a real gRPC
// connection on loopback, with the production message-size caps and the
// production client (grpcservice.Dial: tracing, service credentials), so
// that tests see what only a real connection does: size refusals, metadata
// crossing the wire. It is outside internal/ so that the console's
// end-to-end tests (e2e/console) can use it too.
package grpcstub

import (
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
)

// secret signs the (unchecked) service tokens the client sends.
const secret = "grpcstub-internal-auth-secret-0123456789"

// Start serves what register registers until the test ends and returns a
// connection to it, dialed as the gateway dials the services.
func Start(t testing.TB, register func(*grpc.Server)) *grpc.ClientConn {
	t.Helper()
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(grpcservice.MaxMessageBytes), grpc.MaxSendMsgSize(grpcservice.MaxMessageBytes))
	register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	minter, err := callauth.NewMinter("gateway", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpcservice.Dial(lis.Addr().String(), minter.Credentials("stub"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
