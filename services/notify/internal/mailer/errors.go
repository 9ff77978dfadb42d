package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"syscall"

	gomail "github.com/wneessen/go-mail"

	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

// classify turns a go-mail error into a *notify.SendError. Only a 5xx
// reply to this message's recipient or content (RCPT TO, DATA, the end of
// DATA) is permanent; everything else is retried, including refusals of
// the connection, TLS, authentication or the sender, which an operator
// fixes in the configuration (the emails then go out, rather than fail).
// The summary carries codes only; go-mail's text, which names the
// recipient, goes to the detail.
func classify(ctx context.Context, err error) *notify.SendError {
	se := &notify.SendError{Temporary: true, Detail: err.Error()}
	var send *gomail.SendError
	var proto *textproto.Error
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var record tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &send) && send.ErrorCode() != 0:
		code := send.ErrorCode()
		se.Summary = fmt.Sprintf("smtp %d %s after %s", code, send.EnhancedStatusCode(), stage(send.Reason))
		recipientOrContent := send.Reason == gomail.ErrSMTPRcptTo || send.Reason == gomail.ErrSMTPData || send.Reason == gomail.ErrSMTPDataClose
		se.Temporary = !(code >= 500 && code < 600 && recipientOrContent)
	case errors.As(err, &proto):
		se.Summary = fmt.Sprintf("smtp %d while connecting (greeting, STARTTLS or authentication)", proto.Code)
	case ctx.Err() != nil:
		se.Summary = "interrupted (timeout or shutdown)"
	case errors.Is(err, syscall.ECONNREFUSED):
		se.Summary = "connection refused"
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &record):
		se.Summary = "TLS handshake failed (certificate or protocol)"
	case errors.As(err, &netErr) && netErr.Timeout():
		se.Summary = "timeout"
	case errors.As(err, &send):
		se.Summary = "connection lost during " + stage(send.Reason)
	default:
		se.Summary = "connection failed"
	}
	return se
}

// stage names the SMTP step a go-mail send error happened in.
func stage(r gomail.SendErrReason) string {
	switch r {
	case gomail.ErrSMTPMailFrom:
		return "MAIL FROM"
	case gomail.ErrSMTPRcptTo:
		return "RCPT TO"
	case gomail.ErrSMTPData, gomail.ErrWriteContent:
		return "DATA"
	case gomail.ErrSMTPDataClose:
		return "end of DATA"
	case gomail.ErrConnCheck:
		return "connection check"
	}
	return "send"
}
