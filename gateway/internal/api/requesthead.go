package api

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
)

// Request heads: what is accepted, and how a refusal ends the connection.
const (
	// MaxURIBytes is the longest request target accepted, as common servers
	// do (nginx's 8k header buffers, Apache's LimitRequestLine of 8190);
	// longer ones get 414 uri_too_long.
	MaxURIBytes = 8 << 10
	// MaxHeadBytes bounds the request line and the header fields together:
	// it is fasthttp's read buffer, which must hold a whole head. Beyond it
	// 431 headers_too_large. A target between MaxURIBytes and this still
	// gets its precise 414; fasthttp cannot tell what overflowed a head
	// larger than its buffer, so that is a 431 whatever it holds. Each open
	// connection holds one such buffer.
	MaxHeadBytes = 32 << 10
	// lingerTime and lingerBytes bound how long and how much of a refused
	// request's rest is read and thrown away before the connection closes.
	lingerTime  = 2 * time.Second
	lingerBytes = 4 << 20
)

// limitURI answers a request target over MaxURIBytes with 414. Its head
// fit in the read buffer, so it was read whole; the connection still closes,
// since a client sending such targets is not worth keeping alive.
func (s *Server) limitURI(c *fiber.Ctx) error {
	if len(c.Request().RequestURI()) > MaxURIBytes {
		return problem.New(http.StatusRequestURITooLong, problem.CodeURITooLong, "The request URI is longer than 8 KiB.")
	}
	return c.Next()
}

// closesConnection reports whether a problem refuses the request itself
// (its size or its framing) rather than what it asks for: such answers end
// the connection, since what follows on it may be the rest of the request.
func closesConnection(p *problem.Problem) bool {
	switch p.Code {
	case problem.CodeURITooLong, problem.CodeHeadersTooLarge, problem.CodePayloadTooLarge,
		problem.CodeRequestTimeout, problem.CodeBadRequest:
		return true
	}
	return false
}

// closeGracefully marks the answer "Connection: close" and makes the
// connection linger when it closes (lingerConn), so the client reads the
// answer instead of a reset.
func closeGracefully(c *fiber.Ctx) {
	c.Response().SetConnectionClose()
	if lc, ok := c.Context().Conn().(*lingerConn); ok {
		lc.linger.Store(true)
	}
}

// Serve answers HTTP on lis until the app shuts down. Use it rather than
// App().Listener: its connections close gracefully after a refused request.
func (s *Server) Serve(lis net.Listener) error {
	return s.app.Listener(lingerListener{lis})
}

// lingerListener hands out lingerConns.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

// lingerConn is a connection that, once marked, closes like Apache's
// "lingering close" (and Go's net/http after an unread body): closing a
// TCP socket with unread data in it sends a reset, and a reset can reach
// the client before it has read the answer, which it then never sees. That
// is what a request too large to read whole (a 20 KB URL, a 2 MiB body)
// got. Marked, Close half-closes (the client reads our answer to its end),
// throws away what the client still sends for up to lingerTime or
// lingerBytes, then closes, in the background.
type lingerConn struct {
	net.Conn
	linger atomic.Bool
}

// Close closes the connection, gracefully when marked.
func (c *lingerConn) Close() error {
	if !c.linger.Load() {
		return c.Conn.Close()
	}
	go func() {
		if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = hc.CloseWrite()
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
		_ = c.Conn.Close()
	}()
	return nil
}
