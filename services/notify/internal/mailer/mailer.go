// Package mailer sends rendered emails over SMTP with
// github.com/wneessen/go-mail: one connection per email, bounded in time,
// TLS as SMTP_URL says, a Message-ID derived from the email's id.
package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

// tracerName names this package's spans (the tracer is looked up per
// send, from the provider installed now).
const tracerName = "github.com/meterflow/meterflow/services/notify/internal/mailer"

// Options configure a Mailer.
type Options struct {
	Server Server
	// From is MAIL_FROM, e.g. "Meterflow <no-reply@example.com>".
	From *mail.Address
	// Timeout bounds the connection and each SMTP exchange
	// (NOTIFY_SMTP_TIMEOUT); the caller's context bounds the whole send.
	Timeout time.Duration
	// RootCAs, when set, replaces the system's roots to verify the
	// server's certificate (tests).
	RootCAs *x509.CertPool
}

// Mailer implements notify.Mailer.
type Mailer struct {
	o      Options
	domain string
}

var _ notify.Mailer = (*Mailer)(nil)

// New returns a Mailer for o.
func New(o Options) (*Mailer, error) {
	if o.From == nil || o.Server.Host == "" || o.Timeout <= 0 {
		return nil, errors.New("mailer: needs a server, a sender and a timeout")
	}
	at := strings.LastIndexByte(o.From.Address, '@')
	if at < 0 {
		return nil, errors.New("MAIL_FROM has no domain")
	}
	return &Mailer{o: o, domain: o.From.Address[at+1:]}, nil
}

// MessageID is the Message-ID of email id (without angle brackets): the
// same on every attempt, so a resend after a crash mid-send is
// recognisable as the same message.
func (m *Mailer) MessageID(id fmt.Stringer) string { return id.String() + "@" + m.domain }

// Send implements notify.Mailer: it connects, says EHLO, encrypts and
// authenticates as SMTP_URL says and sends m. Every failure is a
// *notify.SendError.
func (m *Mailer) Send(ctx context.Context, msg notify.Message) error {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("server.address", m.o.Server.Host), attribute.Int("server.port", m.o.Server.Port),
		attribute.String("email.id", msg.ID.String()), attribute.String("email.template", msg.Template)))
	defer span.End()
	err := m.send(ctx, msg)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

func (m *Mailer) send(ctx context.Context, msg notify.Message) error {
	gm, err := m.message(msg)
	if err != nil {
		return &notify.SendError{Summary: "the message could not be built", Detail: err.Error()}
	}
	var releases []func() bool
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	client, err := gomail.NewClient(m.o.Server.Host, m.clientOptions(ctx, &releases)...)
	if err != nil {
		return &notify.SendError{Temporary: true, Summary: "the SMTP client could not be set up", Detail: err.Error()}
	}
	if err := client.DialAndSendWithContext(ctx, gm); err != nil {
		return classify(ctx, err)
	}
	return nil
}

// message builds the MIME message: plain text with an HTML alternative.
func (m *Mailer) message(msg notify.Message) (*gomail.Msg, error) {
	gm := gomail.NewMsg()
	var err error
	if m.o.From.Name != "" {
		err = gm.FromFormat(m.o.From.Name, m.o.From.Address)
	} else {
		err = gm.From(m.o.From.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	if err := gm.To(msg.To); err != nil {
		return nil, errors.New("the recipient's address is not valid")
	}
	gm.Subject(msg.Subject)
	gm.SetMessageIDWithValue(m.MessageID(msg.ID))
	gm.SetDate()
	// RFC 3834: an automatic message; auto-responders do not answer it.
	gm.SetGenHeader("Auto-Submitted", "auto-generated")
	gm.SetGenHeader("X-Meterflow-Template", msg.Template)
	gm.SetBodyString(gomail.TypeTextPlain, msg.Text)
	gm.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	return gm, nil
}

// clientOptions configure one send's client. Its connection is closed
// when ctx ends (the job's timeout, or shutdown), whatever SMTP exchange
// is under way; releases collects the hooks to drop after the send.
func (m *Mailer) clientOptions(ctx context.Context, releases *[]func() bool) []gomail.Option {
	s := m.o.Server
	tlsConfig := &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12, RootCAs: m.o.RootCAs}
	policy := map[StartTLS]gomail.TLSPolicy{StartTLSRequired: gomail.TLSMandatory, StartTLSOpportunistic: gomail.TLSOpportunistic, StartTLSNone: gomail.NoTLS}[s.StartTLS]
	if s.ImplicitTLS {
		policy = gomail.NoTLS // the dialer already speaks TLS
	}
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		*releases = append(*releases, context.AfterFunc(ctx, func() { _ = conn.Close() }))
		if !s.ImplicitTLS {
			return conn, nil
		}
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.Port), gomail.WithTimeout(m.o.Timeout), gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(tlsConfig), gomail.WithDialContextFunc(dial),
	}
	if s.Username != "" {
		opts = append(opts, gomail.WithUsername(s.Username), gomail.WithPassword(s.Password),
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin))
	}
	return opts
}
