package workflow

import (
	"slices"
	"testing"
)

// These tests hold the transition table to the rules that keep money
// right; internal/postgres holds the store's UPDATEs and the unsettled
// column to the table.

func TestEveryStateIsListedOnce(t *testing.T) {
	t.Parallel()
	seen := map[State]bool{}
	for _, s := range states {
		if seen[s.State] {
			t.Errorf("%s is listed twice", s.State)
		}
		seen[s.State] = true
		if _, ok := ParseStatus(string(s.Status)); !ok {
			t.Errorf("%s: unknown status", s.State)
		}
		if s.Replay == 0 {
			t.Errorf("%s: no replay answer", s.State)
		}
	}
	for _, tr := range transitions {
		if !seen[tr.From] || !seen[tr.To] {
			t.Errorf("row %s --%s--> %s names a state outside the states table", tr.From, tr.Event, tr.To)
		}
	}
	for _, async := range []bool{false, true} {
		if st := initialState(async); !seen[st] || !Info(st).Open {
			t.Errorf("initial state %s (async %v) is not an open state of the table", st, async)
		}
	}
}

func TestEachEventEntersOneState(t *testing.T) {
	t.Parallel()
	rows := map[[2]any]bool{}
	for _, tr := range transitions {
		key := [2]any{tr.From, tr.Event}
		if rows[key] {
			t.Errorf("%s --%s--> appears twice", tr.From, tr.Event)
		}
		rows[key] = true
		if to := Step(tr.Event).To; to != tr.To {
			t.Errorf("%s enters %s from %s but %s from another state: the store writes one target per event", tr.Event, tr.To, tr.From, to)
		}
	}
	if got := Step(EventCallFailed); !slices.Equal(got.From, []State{StateRunningPending, StateRunningHeld}) || got.To != StateReleasing {
		t.Errorf("Step(call_failed) = %v -> %s", got.From, got.To)
	}
	if got := Step("no_such_event"); len(got.From) != 0 {
		t.Errorf("an unknown event may leave %v", got.From)
	}
}

// TestClosedStatesAreFinal: a run whose hold is settled never changes
// again, and every open state has a way out.
func TestClosedStatesAreFinal(t *testing.T) {
	t.Parallel()
	for _, s := range states {
		out := 0
		for _, tr := range transitions {
			if tr.From == s.State {
				out++
			}
		}
		if !s.Open && out > 0 {
			t.Errorf("closed state %s has %d transitions out", s.State, out)
		}
		if s.Open && out == 0 {
			t.Errorf("open state %s has no way out", s.State)
		}
	}
}

// TestTheSettlerClosesEveryOpenState follows what the settler does with an
// overdue run in each open state: fail it (EventDeadline) if the state
// allows, then make the wallet call the state owes; the run must be closed.
func TestTheSettlerClosesEveryOpenState(t *testing.T) {
	t.Parallel()
	for _, s := range states {
		if !s.Open {
			continue
		}
		st := s.State
		if next, ok := Next(st, EventDeadline); ok {
			st = next
		}
		switch Info(st).Due {
		case DueCapture:
			st, _ = Next(st, EventCaptured)
		case DueRelease:
			st, _ = Next(st, EventReleased)
		}
		if Info(st).Open {
			t.Errorf("the settler leaves a run found in %s open, in %s", s.State, st)
		}
	}
}

// TestDueMatchesTheWalletsAnswers: a state owes a capture exactly when the
// wallet's answers to a capture leave it, and a release likewise.
func TestDueMatchesTheWalletsAnswers(t *testing.T) {
	t.Parallel()
	for _, s := range states {
		capture := Allows(s.State, EventCaptured) && Allows(s.State, EventCaptureLost)
		release := Allows(s.State, EventReleased)
		if (s.Due == DueCapture) != capture || (s.Due == DueRelease) != release {
			t.Errorf("%s owes %v, but accepts a capture %v, a release %v", s.State, s.Due, capture, release)
		}
	}
}

// TestOnlyA2xxAnswerLeadsToACharge: the fee is charged only by a capture,
// a capture is due only after n8n answered 2xx (response mode) or the
// workflow's verdict said succeeded (callback mode, where a 2xx answer
// only acknowledges the call), and nothing follows a charge.
func TestOnlyA2xxAnswerLeadsToACharge(t *testing.T) {
	t.Parallel()
	for _, tr := range transitions {
		if Info(tr.To).Charged && (tr.Event != EventCaptured || Info(tr.From).Due != DueCapture) {
			t.Errorf("%s --%s--> %s charges the fee", tr.From, tr.Event, tr.To)
		}
		if Info(tr.To).Due == DueCapture && Info(tr.From).Due != DueCapture && tr.Event != EventAnswered && tr.Event != EventVerdictSucceeded {
			t.Errorf("%s --%s--> %s makes a capture due without a 2xx answer", tr.From, tr.Event, tr.To)
		}
	}
	for _, s := range states {
		if s.Charged && (s.Open || s.Status != StatusSucceeded) {
			t.Errorf("charged state %s is open or not succeeded", s.State)
		}
	}
	if r := Info(StateRefused); r.Open || r.Charged || r.Due != DueNothing || r.Replay != ReplayRefused {
		t.Errorf("a refused run: %+v", r)
	}
}

// TestARequestIsSentOnce: only a queued run starts, and a started run
// (running: the request may have reached n8n) never becomes queued again.
func TestARequestIsSentOnce(t *testing.T) {
	t.Parallel()
	rank := map[Status]int{StatusQueued: 0, StatusRunning: 1, StatusSucceeded: 2, StatusFailed: 2}
	for _, tr := range transitions {
		if tr.Event == EventStarted && (tr.From.Status != StatusQueued || tr.To.Status != StatusRunning) {
			t.Errorf("%s --started--> %s", tr.From, tr.To)
		}
		if rank[tr.To.Status] < rank[tr.From.Status] {
			t.Errorf("%s --%s--> %s goes back", tr.From, tr.Event, tr.To)
		}
		if tr.From.Status.Finished() && tr.To.Status != tr.From.Status {
			t.Errorf("%s --%s--> %s changes a final status", tr.From, tr.Event, tr.To)
		}
	}
}

// TestOpenIsAFunctionOfTheHold: runs.unsettled is generated from
// hold_state alone, so states with one hold must agree on Open.
func TestOpenIsAFunctionOfTheHold(t *testing.T) {
	t.Parallel()
	open := map[HoldState]bool{}
	for _, s := range states {
		if o, ok := open[s.Hold]; ok && o != s.Open {
			t.Errorf("hold %s is open in one state and closed in another", s.Hold)
		}
		open[s.Hold] = s.Open
	}
}
