package console

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/auditlog"
	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// auditRow is one audit event of any service.
type auditRow struct {
	Source  string
	ID      string
	ActorID string
	// ActorEmail is filled in for display when the actor is a known user.
	ActorEmail string
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	Before     []byte
	After      []byte
	CreatedAt  *timestamppb.Timestamp
}

// auditPage returns n merged audit events of the three services after
// cursor, filtered by target id and source ("all" or a service name), and
// the cursor of the next page ("" at the end). The merge is the admin
// API's (auditlog.Merge), so the console and GET /v1/admin/audit agree.
func (c *Console) auditPage(ctx context.Context, target, source, cursor string, n int) ([]auditRow, string, error) {
	if source == "all" {
		source = ""
	}
	sources := auditlog.Clients{Identity: c.d.Identity, Wallet: c.d.Wallet, Workflow: c.d.Workflow}.Sources(target, source)
	scope := url.Values{"target": {target}, "source": {source}}.Encode()
	page, err := auditlog.Merge(ctx, sources, scope, cursor, n)
	if errors.Is(err, auditlog.ErrInvalidCursor) {
		// A stale or edited link: start over rather than fail the page.
		page, err = auditlog.Merge(ctx, sources, scope, "", n)
	}
	if err != nil {
		return nil, "", err
	}
	rows := make([]auditRow, len(page.Events))
	for i, e := range page.Events {
		rows[i] = auditRow{
			Source: e.Source, ID: e.ID, ActorID: e.ActorID, Action: e.Action,
			TargetType: e.TargetType, TargetID: e.TargetID, Reason: e.Reason,
			Before: e.Before, After: e.After, CreatedAt: timestamppb.New(e.CreatedAt),
		}
	}
	return rows, page.NextCursor, nil
}

type auditView struct {
	Source string
	Target string
	Rows   []auditRow
	Next   string
	Paged  bool
	Filter url.Values
}

func (c *Console) audit(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := c.site.Call(x, s)
	defer cancel()
	v := auditView{Source: x.Query("source", "all"), Target: x.Query("target"), Paged: x.Query("cursor") != "", Filter: url.Values{}}
	switch v.Source {
	case "all", "identity", "wallet", "workflow":
	default:
		v.Source = "all"
	}
	if v.Source != "all" {
		v.Filter.Set("source", v.Source)
	}
	if v.Target != "" {
		v.Filter.Set("target", v.Target)
	}
	rows, next, err := c.auditPage(ctx, v.Target, v.Source, x.Query("cursor"), pageSize)
	if err != nil {
		return err
	}
	v.Rows, v.Next = rows, next
	c.actorEmails(ctx, v.Rows)
	return c.render(x, s, fiber.StatusOK, "audit", "Audit log", "audit", v)
}

// maxActorLookups bounds the GetUser calls of one audit page; actors are
// few (the admins), so this is rarely reached.
const maxActorLookups = 20

// actorEmails fills ActorEmail of rows whose actor is a user. Lookups that
// fail leave the id shown: the audit page should not fail for a label.
func (c *Console) actorEmails(ctx context.Context, rows []auditRow) {
	var ids []string
	for _, r := range rows {
		if uuid.Validate(r.ActorID) == nil && !slices.Contains(ids, r.ActorID) && len(ids) < maxActorLookups {
			ids = append(ids, r.ActorID)
		}
	}
	emails := make([]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			if u, err := c.d.Identity.GetUser(ctx, &identityv1.GetUserRequest{Id: id}); err == nil {
				emails[i] = u.GetUser().GetEmail()
			}
		})
	}
	wg.Wait()
	byID := make(map[string]string, len(ids))
	for i, id := range ids {
		byID[id] = emails[i]
	}
	for i := range rows {
		rows[i].ActorEmail = byID[rows[i].ActorID]
	}
}
