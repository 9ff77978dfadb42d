package mailer

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    Server
		wantErr string
	}{
		{"smtp://127.0.0.1:1025", Server{Host: "127.0.0.1", Port: 1025, StartTLS: StartTLSOpportunistic}, ""},
		{"smtp://relay.example.com", Server{Host: "relay.example.com", Port: 587, StartTLS: StartTLSOpportunistic}, ""},
		{"smtp://relay.example.com:25?starttls=required", Server{Host: "relay.example.com", Port: 25, StartTLS: StartTLSRequired}, ""},
		{"smtp://localhost:25?starttls=none", Server{Host: "localhost", Port: 25, StartTLS: StartTLSNone}, ""},
		{"smtps://apikey:s%2Fcr%40t@smtp.example.com", Server{Host: "smtp.example.com", Port: 465, ImplicitTLS: true, Username: "apikey", Password: "s/cr@t"}, ""},
		{"smtp://u:p@127.0.0.1:25", Server{Host: "127.0.0.1", Port: 25, StartTLS: StartTLSOpportunistic, Username: "u", Password: "p"}, ""},
		{"smtp://u:p@relay.example.com:25", Server{}, "credentials need TLS"},
		{"smtps://h.example.com?starttls=required", Server{}, "starttls applies to smtp:// only"},
		{"smtp://h.example.com?starttls=maybe", Server{}, "starttls must be"},
		{"smtp://h.example.com?tls=1", Server{}, "unknown parameter"},
		{"http://h.example.com", Server{}, "SMTP_URL must look like"},
		{"smtp://h.example.com:99999", Server{}, "SMTP_URL must look like"},
		{"smtp://u:pa ss%zz@h.example.com", Server{}, "SMTP_URL must look like"},
		{"h.example.com:25", Server{}, "SMTP_URL must look like"},
	}
	for _, tc := range tests {
		got, err := ParseURL(tc.raw, StartTLSOpportunistic)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseURL(%q) err = %v, want %q", tc.raw, err, tc.wantErr)
		case err != nil && (strings.Contains(err.Error(), "pa ss") || strings.Contains(err.Error(), ":p@")):
			t.Errorf("ParseURL(%q) err = %v shows the password", tc.raw, err)
		}
	}
	s, _ := ParseURL("smtps://apikey:s3cret@smtp.example.com", StartTLSRequired)
	if r := s.Redacted(); strings.Contains(r, "s3cret") || r != "smtps://apikey:redacted@smtp.example.com:465" {
		t.Errorf("Redacted() = %q", r)
	}
}
