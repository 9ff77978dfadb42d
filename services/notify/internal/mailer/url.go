package mailer

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// StartTLS is how an smtp:// connection is encrypted.
type StartTLS string

// The STARTTLS policies of smtp:// URLs (the starttls query parameter).
const (
	// StartTLSRequired: the server must offer STARTTLS, or nothing is sent
	// (the default in production).
	StartTLSRequired StartTLS = "required"
	// StartTLSOpportunistic: STARTTLS when the server offers it, plain text
	// otherwise (the default in development: Mailpit offers none).
	StartTLSOpportunistic StartTLS = "opportunistic"
	// StartTLSNone: never (a relay on the same host or pod).
	StartTLSNone StartTLS = "none"
)

// Server is where and how to reach the SMTP server: SMTP_URL, parsed.
type Server struct {
	Host string
	Port int
	// ImplicitTLS is smtps://: TLS from the first byte (port 465).
	ImplicitTLS bool
	// StartTLS applies to smtp:// only.
	StartTLS StartTLS
	// Username and Password, when set, authenticate (PLAIN, LOGIN or
	// SCRAM, whichever the server offers first in that order of
	// preference), only over TLS or to a server on this host.
	Username, Password string
}

// errURL is the message of every malformed SMTP_URL: the URL itself is
// never repeated, since it may hold a password.
var errURL = errors.New("SMTP_URL must look like smtp://[user:password@]host:port[?starttls=required|opportunistic|none] or smtps://[user:password@]host:port (the password URL-encoded)")

// ParseURL reads SMTP_URL. defaultStartTLS applies to an smtp:// URL
// without a starttls parameter. Errors never repeat the URL.
func ParseURL(raw string, defaultStartTLS StartTLS) (Server, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return Server{}, errURL
	}
	s := Server{Host: u.Hostname(), StartTLS: defaultStartTLS}
	switch u.Scheme {
	case "smtp":
		s.Port = 587
	case "smtps":
		s.Port, s.ImplicitTLS, s.StartTLS = 465, true, ""
	default:
		return Server{}, errURL
	}
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil || s.Port < 1 || s.Port > 65535 {
			return Server{}, errURL
		}
	}
	q := u.Query()
	for k := range q {
		if k != "starttls" {
			return Server{}, fmt.Errorf("SMTP_URL: unknown parameter %q (only starttls)", k)
		}
	}
	if v := q.Get("starttls"); v != "" {
		if s.ImplicitTLS {
			return Server{}, errors.New("SMTP_URL: smtps:// is TLS from the start; starttls applies to smtp:// only")
		}
		switch StartTLS(v) {
		case StartTLSRequired, StartTLSOpportunistic, StartTLSNone:
			s.StartTLS = StartTLS(v)
		default:
			return Server{}, fmt.Errorf("SMTP_URL: starttls must be required, opportunistic or none, not %q", v)
		}
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	if s.Username != "" && !s.ImplicitTLS && s.StartTLS != StartTLSRequired && !loopback(s.Host) {
		return Server{}, errors.New("SMTP_URL: credentials need TLS: use smtps:// or smtp://...?starttls=required, or a relay on this host")
	}
	return s, nil
}

// Redacted is the server as logs show it: the password replaced.
func (s Server) Redacted() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port))}
	if s.ImplicitTLS {
		u.Scheme = "smtps"
	} else {
		u.RawQuery = "starttls=" + string(s.StartTLS)
	}
	if s.Username != "" {
		u.User = url.UserPassword(s.Username, "redacted")
	}
	return u.String()
}

// loopback reports whether host is this host (a local relay or Mailpit).
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
