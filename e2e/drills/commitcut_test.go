package drills

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/Shopify/toxiproxy/v2/toxics"
)

// commitQuery is the simple-protocol Query message pgx sends for
// tx.Commit: 'Q', int32 length 11, "commit\0".
var commitQuery = []byte("Q\x00\x00\x00\x0bcommit\x00")

// statementEnd is the end of one extended-protocol statement as pgx writes
// it: Execute (unnamed portal, no row limit) then Sync. A statement outside
// an explicit transaction commits at that Sync: the wallet's reserve and
// capture are single statements (reserve_hold, CaptureHold), so that Sync
// is their COMMIT.
var statementEnd = []byte("E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04")

// commitBudgets holds, per budget name, how many COMMITs the commit_cut
// toxic lets through first (skip), may still cut (left) and did cut.
var commitBudgets sync.Map // string -> *commitBudget

type commitBudget struct{ skip, left, cut atomic.Int64 }

func budget(name string) *commitBudget {
	b, _ := commitBudgets.LoadOrStore(name, &commitBudget{})
	return b.(*commitBudget)
}

// commitCutToxic is an upstream toxic on a service→Postgres edge: it lets a
// COMMIT through to Postgres and then closes the connection at once, so the
// transaction commits while the service never hears the answer — the
// "dropped connection at COMMIT" whose outcome the caller cannot know.
type commitCutToxic struct {
	// Budget names the commitBudget limiting how many commits are cut.
	Budget string `json:"budget"`
	// Statements counts every statement's implicit commit (statementEnd)
	// instead of explicit COMMITs.
	Statements bool `json:"statements"`
}

// Pipe implements toxics.Toxic.
func (t *commitCutToxic) Pipe(stub *toxics.ToxicStub) {
	b := budget(t.Budget)
	marker := commitQuery
	if t.Statements {
		marker = statementEnd
	}
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if bytes.Contains(c.Data, marker) && b.skip.Add(-1) < 0 && b.left.Add(-1) >= 0 {
				stub.Output <- c
				b.cut.Add(1)
				stub.Close()
				return
			}
			stub.Output <- c
		}
	}
}

func init() {
	toxics.Register("commit_cut", new(commitCutToxic))
}
