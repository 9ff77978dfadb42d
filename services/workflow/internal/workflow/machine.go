package workflow

import "time"

// This file is the run state machine: every state a run can be in, what
// each state owes, and every transition. The service, the store's guarded
// UPDATEs (they receive From and To from here, see Change) and the settler
// consult these two tables and nothing else; docs/adr/0011 says why, and
// the README draws them.

// State is where a run is: the status users see and the wallet hold as
// this service knows it. The pair, not either column alone, decides what
// may happen next.
type State struct {
	Status Status
	Hold   HoldState
}

// String is "status/hold", the form the store's guards compare.
func (s State) String() string { return string(s.Status) + "/" + string(s.Hold) }

// State returns the state the run is in.
func (r Run) State() State { return State{Status: r.Status, Hold: r.Hold} }

// The states of a run.
var (
	StateQueuedPending  = State{StatusQueued, HoldPending}
	StateRunningPending = State{StatusRunning, HoldPending}
	StateQueuedHeld     = State{StatusQueued, HoldHeld}
	StateRunningHeld    = State{StatusRunning, HoldHeld}
	StateAwaiting       = State{StatusRunning, HoldAwaiting}
	StateCapturing      = State{StatusRunning, HoldCapturing}
	StateReleasing      = State{StatusFailed, HoldReleasing}
	StateRefused        = State{StatusFailed, HoldNone}
	StateCaptured       = State{StatusSucceeded, HoldCaptured}
	StateCaptureLost    = State{StatusSucceeded, HoldReleased}
	StateReleased       = State{StatusFailed, HoldReleased}
)

// Due is the wallet call a state owes.
type Due int

// The wallet calls a state can owe.
const (
	DueNothing Due = iota
	// DueCapture: n8n answered 2xx; the fee is to be charged.
	DueCapture
	// DueRelease: the run failed; the hold is to be freed.
	DueRelease
)

// Replay is the answer to a repeated Idempotency-Key whose run is in a state.
type Replay int

// The answers to a repeated key (same request; another request is always
// idempotency.ErrKeyReused).
const (
	// ReplayInProgress: the first request's reserve has no recorded answer
	// yet, so neither its 202 nor its 402 is known: idempotency.ErrInProgress.
	ReplayInProgress Replay = iota + 1
	// ReplayRefused: the wallet StateRefused the fee: ErrInsufficientFunds again.
	ReplayRefused
	// ReplayRun: the recorded run (a sync repeat waits for its status to be
	// final and answers idempotency.ErrInProgress until then).
	ReplayRun
)

// StateInfo is what the service knows of one state.
type StateInfo struct {
	State
	// Open: the hold is not final, so the settler looks at the run once its
	// deadline plus the grace period has passed. Stored as runs.unsettled,
	// a generated column of hold_state (migration 00002) that the
	// store's tests hold against this field.
	Open bool
	// Due is the wallet call the state owes; the settler and a retried job
	// make it.
	Due Due
	// Charged: the run's fee is charged (charged_cents = fee_cents).
	Charged bool
	// Replay is the answer to a repeated Idempotency-Key.
	Replay Replay
}

// states lists every state a run can be in.
var states = []StateInfo{
	// state          open   due          charged  replay
	{StateQueuedPending, true, DueNothing, false, ReplayInProgress},
	{StateRunningPending, true, DueNothing, false, ReplayInProgress},
	{StateQueuedHeld, true, DueNothing, false, ReplayRun},
	{StateRunningHeld, true, DueNothing, false, ReplayRun},
	{StateAwaiting, true, DueNothing, false, ReplayRun},
	{StateCapturing, true, DueCapture, false, ReplayRun},
	{StateReleasing, true, DueRelease, false, ReplayRun},
	{StateRefused, false, DueNothing, false, ReplayRefused},
	{StateCaptured, false, DueNothing, true, ReplayRun},
	{StateCaptureLost, false, DueNothing, false, ReplayRun},
	{StateReleased, false, DueNothing, false, ReplayRun},
}

// Event is something that happens to a run.
type Event string

// The events of a run.
const (
	// EventReserveRefused: the wallet StateRefused the fee (insufficient funds).
	EventReserveRefused Event = "reserve_refused"
	// EventReserveUnknown: the reserve failed without an answer (wallet
	// unreachable): a hold may exist, so a release is due.
	EventReserveUnknown Event = "reserve_unknown"
	// EventQueued: an async run's fee is held and its job queued (one
	// transaction). A sync run's accepted reserve is no event: the run was
	// recorded running with its hold pending and goes on to call n8n.
	EventQueued Event = "queued"
	// EventStarted: an async run's request is about to be sent. It is
	// recorded before the request: a run found running may have reached n8n.
	EventStarted Event = "started"
	// EventNotSent: the run failed before its request was sent (could not
	// be queued, not started in time, workflow inactive or misconfigured).
	EventNotSent Event = "not_sent"
	// EventAnswered: n8n answered 2xx; the fee is to be StateCaptured.
	EventAnswered Event = "answered_2xx"
	// EventAcknowledged: n8n answered 2xx to the call of a run in callback
	// mode, which only acknowledges it: the run waits for its verdict.
	EventAcknowledged Event = "acknowledged"
	// EventVerdictSucceeded: the workflow posted "succeeded" to the run's
	// callback URL; the fee is to be captured. It may come before the
	// call's own answer (n8n can run the workflow before it answers).
	EventVerdictSucceeded Event = "verdict_succeeded"
	// EventVerdictFailed: the workflow posted "failed"; the hold is to be
	// released.
	EventVerdictFailed Event = "verdict_failed"
	// EventCallFailed: n8n answered non-2xx, timed out, could not be
	// reached or was not allowed.
	EventCallFailed Event = "call_failed"
	// EventJobRetried: an async run's job ran again and found the run
	// started, so the request may have reached n8n; it is not sent again.
	EventJobRetried Event = "job_retried"
	// EventDeadline: the settler found the run unfinished after its
	// deadline plus the grace period (its process is gone, or, in callback
	// mode, no verdict came: callback_timeout), or a verdict came too late.
	EventDeadline Event = "deadline"
	// EventCaptured: the wallet charged the fee.
	EventCaptured Event = "captured"
	// EventCaptureLost: the wallet could not capture (the hold had
	// expired): the run succeeded without charge.
	EventCaptureLost Event = "capture_lost"
	// EventReleased: the wallet freed the hold.
	EventReleased Event = "released"
)

// Transition is one row of the table: a run in From that meets Event
// enters To.
type Transition struct {
	From  State
	Event Event
	To    State
}

// transitions is the run state machine. A (state, event) pair without a
// row is StateRefused: the store changes nothing and says ErrStateChanged.
// Every row of one event enters the same state: the store writes an event
// as one conditional UPDATE, whose target cannot depend on the row found.
var transitions = []Transition{
	// The reserve's answer.
	{StateQueuedPending, EventReserveRefused, StateRefused},
	{StateRunningPending, EventReserveRefused, StateRefused},
	{StateQueuedPending, EventReserveUnknown, StateReleasing},
	{StateRunningPending, EventReserveUnknown, StateReleasing},
	{StateQueuedPending, EventQueued, StateQueuedHeld},

	// Before the request.
	{StateQueuedPending, EventNotSent, StateReleasing},  // async: could not be queued
	{StateRunningPending, EventNotSent, StateReleasing}, // sync: too late, misconfigured
	{StateQueuedHeld, EventNotSent, StateReleasing},     // async: too late, inactive, misconfigured
	{StateQueuedHeld, EventStarted, StateRunningHeld},

	// n8n's answer.
	{StateRunningPending, EventAnswered, StateCapturing},
	{StateRunningHeld, EventAnswered, StateCapturing},
	{StateRunningPending, EventCallFailed, StateReleasing},
	{StateRunningHeld, EventCallFailed, StateReleasing},
	{StateRunningPending, EventAcknowledged, StateAwaiting},
	{StateRunningHeld, EventAcknowledged, StateAwaiting},

	// The workflow's verdict (callback mode), also before the call's answer.
	{StateRunningPending, EventVerdictSucceeded, StateCapturing},
	{StateRunningHeld, EventVerdictSucceeded, StateCapturing},
	{StateAwaiting, EventVerdictSucceeded, StateCapturing},
	{StateRunningPending, EventVerdictFailed, StateReleasing},
	{StateRunningHeld, EventVerdictFailed, StateReleasing},
	{StateAwaiting, EventVerdictFailed, StateReleasing},

	// Recovery: a retried job, the settler.
	{StateRunningHeld, EventJobRetried, StateReleasing},
	{StateQueuedPending, EventDeadline, StateReleasing},
	{StateRunningPending, EventDeadline, StateReleasing},
	{StateQueuedHeld, EventDeadline, StateReleasing},
	{StateRunningHeld, EventDeadline, StateReleasing},
	{StateAwaiting, EventDeadline, StateReleasing},

	// The wallet's answer.
	{StateCapturing, EventCaptured, StateCaptured},
	{StateCapturing, EventCaptureLost, StateCaptureLost},
	{StateReleasing, EventReleased, StateReleased},
}

// States returns every state a run can be in, with what each owes.
func States() []StateInfo { return append([]StateInfo(nil), states...) }

// Events returns every event, in the order of their first row.
func Events() []Event {
	var out []Event
	seen := map[Event]bool{}
	for _, t := range transitions {
		if !seen[t.Event] {
			seen[t.Event] = true
			out = append(out, t.Event)
		}
	}
	return out
}

// Info returns what the service knows of st; a state outside the table
// (none is stored: the columns' CHECKs) is closed and owes nothing.
func Info(st State) StateInfo {
	for _, s := range states {
		if s.State == st {
			return s
		}
	}
	return StateInfo{State: st}
}

// Next returns the state a run in from enters on ev, and false when the
// table has no such row.
func Next(from State, ev Event) (State, bool) {
	for _, t := range transitions {
		if t.From == from && t.Event == ev {
			return t.To, true
		}
	}
	return State{}, false
}

// Allows reports whether a run in st may meet ev.
func Allows(st State, ev Event) bool {
	_, ok := Next(st, ev)
	return ok
}

// Change is one transition as the store writes it: the event's rows of the
// table (the states it may leave, the state it enters) and its data. Build
// it with Step.
type Change struct {
	Event Event
	// From lists the states the run may be in; in any other the store
	// changes nothing and returns ErrStateChanged.
	From []State
	// To is the state the run enters. It decides which columns the store
	// writes besides status and hold_state.
	To State

	// HTTPStatus and Output are n8n's answer (EventAnswered, failures).
	HTTPStatus int
	Output     []byte
	// Error says why the run failed, or why it was not charged.
	Error string
	// Input replaces the run's input (EventReserveRefused keeps a preview).
	Input []byte
	// CallbackTokenHash is the hash of the callback token an async run in
	// callback mode gets when it starts (EventStarted); nil keeps the stored one.
	CallbackTokenHash []byte
	// Deadline, when set, replaces the run's deadline: an async callback
	// run's verdict window starts with its call (EventStarted); after a
	// verdict only the wallet call is left, so the settler may finish it
	// right away after a crash.
	Deadline *time.Time
}

// Step returns the Change of ev with the table's states filled in; the
// caller adds the event's data.
func Step(ev Event) Change {
	c := Change{Event: ev}
	for _, t := range transitions {
		if t.Event == ev {
			c.From = append(c.From, t.From)
			c.To = t.To
		}
	}
	return c
}

// initialState is the state a run is recorded in: an async run waits
// queued for its job; a sync run is recorded running at once, so that the
// running mark is durable before n8n is called without a write of its own.
func initialState(async bool) State {
	if async {
		return StateQueuedPending
	}
	return StateRunningPending
}
