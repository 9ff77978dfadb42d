// Package smtptest is an SMTP server inside a test's process, built on
// github.com/emersion/go-smtp: it keeps every message it accepts (parsed:
// headers, plain text and HTML parts) and can refuse, stall or go away on
// demand. Notify's tests and the whole-stack tests read the emails here;
// no test sends mail over the network.
package smtptest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server; the zero value is plain SMTP without
// authentication, as Mailpit is.
type Options struct {
	// ImplicitTLS serves smtps:// (TLS from the first byte); StartTLS
	// offers STARTTLS on a plain connection. Both use a certificate for
	// 127.0.0.1 that RootCAs verifies.
	ImplicitTLS, StartTLS bool
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is the host:port it listens on.
	Addr string
	// RootCAs verifies its certificate (TLS options only).
	RootCAs *x509.CertPool

	opts   Options
	tlsCfg *tls.Config

	mu       sync.Mutex
	srv      *smtp.Server
	messages []Message
	attempts int
	refuse   []refusal
	hold     *Hold
	changed  chan struct{} // closed and replaced on every new message
}

type refusal struct {
	code    int
	atRcpt  bool
	message string
}

// Start runs a server on a free loopback port until the test ends.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	s := &Server{changed: make(chan struct{})}
	if len(opts) > 0 {
		s.opts = opts[0]
	}
	if s.opts.ImplicitTLS || s.opts.StartTLS {
		cert, pool, err := selfSigned()
		if err != nil {
			t.Fatal(err)
		}
		s.tlsCfg, s.RootCAs = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, pool
	}
	lis, err := s.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = lis.Addr().String()
	s.serve(lis)
	t.Cleanup(s.Stop)
	return s
}

// URL is the server as SMTP_URL names it.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.Addr}
	if s.opts.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if s.opts.Username != "" {
		u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	}
	if s.opts.StartTLS {
		u.RawQuery = "starttls=required"
	}
	return u.String()
}

func (s *Server) listen(addr string) (net.Listener, error) {
	if s.opts.ImplicitTLS {
		return tls.Listen("tcp", addr, s.tlsCfg)
	}
	return net.Listen("tcp", addr)
}

func (s *Server) serve(lis net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "smtptest.local"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.MaxMessageBytes = 1 << 20
	srv.AllowInsecureAuth = !s.opts.ImplicitTLS && !s.opts.StartTLS
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.opts.StartTLS {
		srv.TLSConfig = s.tlsCfg
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

// Stop closes the listener and every connection: the server is down
// (connections are refused) until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart listens again on the same address after Stop.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	lis, err := s.listen(s.Addr)
	if err != nil {
		t.Fatalf("smtptest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(lis)
}

// Refuse makes the next n messages fail with code (e.g. 451, temporary,
// or 550, permanent): at RCPT TO when atRcpt, else at the end of DATA.
func (s *Server) Refuse(n, code int, atRcpt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.refuse = append(s.refuse, refusal{code: code, atRcpt: atRcpt, message: fmt.Sprintf("smtptest refuses this message (%d)", code)})
	}
}

// Attempts is how many transactions (MAIL FROM) the server has seen,
// accepted or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Wait returns the accepted messages once there are at least n, failing
// the test after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs, changed := append([]Message(nil), s.messages...), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: %d message(s) after %s, want %d", len(msgs), timeout, n)
			return nil
		}
	}
}

func (s *Server) accept(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// startTransaction counts a transaction and pops its refusal, if any.
func (s *Server) startTransaction() (refusal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if len(s.refuse) == 0 {
		return refusal{}, false
	}
	r := s.refuse[0]
	s.refuse = s.refuse[1:]
	return r, true
}

// session is one SMTP connection's transaction state.
type session struct {
	s       *Server
	from    string
	to      []string
	refusal *refusal
	authed  bool
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.s.opts.Username || pass != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from, ss.to, ss.refusal = from, nil, nil
	if r, ok := ss.s.startTransaction(); ok {
		ss.refusal = &r
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if r := ss.refusal; r != nil && r.atRcpt {
		return &smtp.SMTPError{Code: r.code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: r.message}
	}
	ss.s.waitHold(HoldAtRcpt)
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if rf := ss.refusal; rf != nil && !rf.atRcpt {
		return &smtp.SMTPError{Code: rf.code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: rf.message}
	}
	m, err := parse(ss.from, ss.to, raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest cannot parse the message: " + err.Error()}
	}
	ss.s.accept(m)
	ss.s.waitHold(HoldAfterData)
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to, ss.refusal = "", nil, nil }
func (ss *session) Logout() error { return nil }
