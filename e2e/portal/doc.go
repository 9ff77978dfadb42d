// Package portal holds the user portal's (/app) tests against the whole
// stack (e2e/stack): a new user's journey in headless Chromium, from the
// sign-up to a revoked API key, which also takes the screenshots of
// docs/portal.md at desktop and phone width; a second user who sees none
// of the first one's data; the portal's security rules over HTTP
// (cookies, CSRF on every form, redirects, login limits); and the wallet
// settings' forms (errors by their fields, saving a card through Checkout
// in setup mode, auto top-up). The tests run
// one after another: each starts a whole stack, and three at once take
// more Postgres connections than a shared test server may have.
package portal
