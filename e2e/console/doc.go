// Package console holds the admin console's end-to-end tests: the whole
// product (e2e/stack) with a console served on its own loopback port, driven
// over HTTP (gateway/webtest) and in a headless browser. They live here, not
// in gateway/console, so that the gateway module does not require the
// services' modules (ADR 0004).
package console
