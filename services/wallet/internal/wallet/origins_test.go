package wallet

import "testing"

func TestOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://App.Example.com/x?y#z":     "https://app.example.com",
		"HTTPS://app.example.com:443/":      "https://app.example.com",
		"http://localhost:80/a":             "http://localhost",
		"http://localhost:8080/topup":       "http://localhost:8080",
		"https://[::1]:8443/ok":             "https://[::1]:8443",
		"https://app.example.com:8443":      "https://app.example.com:8443",
		"https://user@app.example.com/":     "",
		"ftp://app.example.com/":            "",
		"https:app.example.com":             "",
		"//app.example.com/":                "",
		"https://":                          "",
		"https://app.example.com:99999999/": "",
	} {
		got, err := Origin(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
