// Package rpcclient wraps the gateway's connections to the services so that
// a failed call's error names the RPC it came from. The HTTP layer and the
// console map errors long after the call returned; without the method, a
// 5xx log line could not say which service answered what.
package rpcclient

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Conn is a client connection whose unary calls return *CallError on failure.
type Conn struct {
	grpc.ClientConnInterface
}

// Wrap returns cc with its call errors naming their method.
func Wrap(cc grpc.ClientConnInterface) Conn { return Conn{ClientConnInterface: cc} }

// Invoke performs a unary call and wraps its error in a *CallError.
func (c Conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if err := c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...); err != nil {
		return &CallError{Method: method, Err: err}
	}
	return nil
}

// CallError is the error of one call: the gRPC status is the service's,
// unchanged (status.FromError, status.Code and rpcerr read it as before).
type CallError struct {
	// Method is the full gRPC method name, e.g.
	// /meterflow.wallet.v1.WalletService/AdminListTransactions.
	Method string
	Err    error
}

// Error names the method and the underlying error.
func (e *CallError) Error() string { return e.Method + ": " + e.Err.Error() }

// Unwrap returns the call's own error.
func (e *CallError) Unwrap() error { return e.Err }

// GRPCStatus returns the status of the call's own error, so that
// status.FromError sees the service's status and message as they were.
func (e *CallError) GRPCStatus() *status.Status { return status.Convert(e.Err) }

// Method returns the RPC that err came from, or "" when err is not a call's error.
func Method(err error) string {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Method
	}
	return ""
}
