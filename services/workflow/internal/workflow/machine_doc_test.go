package workflow

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the state machine section of the service's README")

// readmePath is the service's README, which draws the tables.
const readmePath = "../../README.md"

const (
	machineBegin = "<!-- state machine: generated from internal/workflow/machine.go by TestREADMEDrawsTheStateMachine; do not edit -->\n"
	machineEnd   = "<!-- end of state machine -->\n"
)

// TestREADMEDrawsTheStateMachine keeps the README's picture and tables of
// the state machine equal to the tables the code consults. After changing
// machine.go run
//
//	go test ./internal/workflow -run TestREADMEDrawsTheStateMachine -update-readme
func TestREADMEDrawsTheStateMachine(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, machineBegin), strings.Index(readme, machineEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no state machine section (%q ... %q)", readmePath, machineBegin, machineEnd)
	}
	want := renderMachine()
	if got := readme[i+len(machineBegin) : j]; got != want {
		if *updateREADME {
			readme = readme[:i+len(machineBegin)] + want + readme[j:]
			if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the README's state machine differs from machine.go; run with -update-readme. Want:\n%s", want)
	}
}

func renderMachine() string {
	var b strings.Builder
	b.WriteString("```mermaid\nstateDiagram-v2\n    direction LR\n")
	for _, s := range states {
		fmt.Fprintf(&b, "    state \"%s\" as %s\n", s.State, mermaidID(s.State))
	}
	fmt.Fprintf(&b, "    [*] --> %s: sync\n    [*] --> %s: async\n", mermaidID(initialState(false)), mermaidID(initialState(true)))
	type edge struct{ from, to State }
	var order []edge
	labels := map[edge][]string{}
	for _, tr := range transitions {
		e := edge{tr.From, tr.To}
		if labels[e] == nil {
			order = append(order, e)
		}
		labels[e] = append(labels[e], string(tr.Event))
	}
	for _, e := range order {
		fmt.Fprintf(&b, "    %s --> %s: %s\n", mermaidID(e.from), mermaidID(e.to), strings.Join(labels[e], ", "))
	}
	b.WriteString("```\n\n")

	b.WriteString("| state (`status/hold`) | hold open | owes the wallet | fee charged | a repeated Idempotency-Key gets |\n|---|---|---|---|---|\n")
	for _, s := range states {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", s.State, yesNo(s.Open), dueText(s.Due), yesNo(s.Charged), replayText(s))
	}
	b.WriteString("\n| event | from | to |\n|---|---|---|\n")
	for _, ev := range Events() {
		c := Step(ev)
		from := make([]string, len(c.From))
		for i, st := range c.From {
			from[i] = "`" + st.String() + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` |\n", ev, strings.Join(from, ", "), c.To)
	}
	return b.String()
}

func mermaidID(s State) string { return string(s.Status) + "_" + string(s.Hold) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dueText(d Due) string {
	switch d {
	case DueCapture:
		return "capture"
	case DueRelease:
		return "release"
	}
	return "—"
}

func replayText(s StateInfo) string {
	switch {
	case s.Replay == ReplayInProgress:
		return "409 `request_in_progress`"
	case s.Replay == ReplayRefused:
		return "402 `insufficient_funds`"
	case s.Status.Finished():
		return "the run"
	}
	return "async: the run; sync: 409 `request_in_progress`"
}
