package wallet

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/meterflow/meterflow/platform/validation"
)

// maxReturnURLBytes bounds success_url and cancel_url (Stripe's limit is
// larger; ours keeps stored responses small).
const maxReturnURLBytes = 2048

var errNotHTTPURL = errors.New("not an absolute http(s) URL without credentials")

// Origin returns the origin of an absolute http(s) URL: scheme://host[:port]
// in lower case, without the scheme's default port, as browsers compare
// them. URLs with credentials (user@host) are refused: they are a classic
// way to make one host look like another.
func Origin(raw string) (string, error) {
	if len(raw) > maxReturnURLBytes {
		return "", errNotHTTPURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", errNotHTTPURL
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if n, err := strconv.Atoi(port); host == "" || (port != "" && (err != nil || n < 1 || n > 65535)) {
		return "", errNotHTTPURL
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	o := u.Scheme + "://" + host
	if port != "" {
		o += ":" + port
	}
	return o, nil
}

// checkReturnURL checks an optional success_url or cancel_url: Checkout
// sends the paying user there, so it must be one of our own sites
// (Config.ReturnOrigins), never an address a third party chose.
func (s *Service) checkReturnURL(field, v string) error {
	if v == "" {
		return nil
	}
	o, err := Origin(v)
	if err != nil {
		return validation.Field(field, "must be an absolute http or https URL")
	}
	if !slices.Contains(s.cfg.ReturnOrigins, o) {
		return validation.Field(field, "must be on one of this service's allowed origins")
	}
	return nil
}
