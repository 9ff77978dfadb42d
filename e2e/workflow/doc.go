// Package workflow holds the workflow service's tests that need the real
// wallet beside it: a real wallet and a real workflow service in process
// (their app packages, as their commands start them), on loopback ports,
// called as the gateway calls them, so that every charge, refund and
// release is checked against the wallet's ledger. They live here, not in
// services/workflow, so that the workflow module does not require the
// wallet's (ADR 0004).
package workflow
