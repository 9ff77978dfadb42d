// Package drills breaks the running product on purpose and proves that no
// money is lost, doubled or leaked: a Jepsen-style bank test over the public
// API, SIGKILLs of the wallet and workflow processes, faults injected with
// toxiproxy between every process and its dependencies, and dependency
// outages. The wallet and the workflow service run as real processes (built
// with go build), identity and the gateway in process; every edge goes
// through an in-process toxiproxy proxy. The code lives in _test files: a
// fast subset runs in `make test`, the full drills under the `drills` build
// tag (`make drills`); among them a rolling restart of every process under
// load and a start of new code on an old schema, which run all four
// processes as binaries behind a balancer (instances_test.go), notify
// SIGKILLed in the middle of sending emails (notify_test.go), and notify and
// the workflow service SIGKILLed while runs' webhook events go out
// (webhooks_test.go). See docs/reliability.md.
package drills
