package api

import (
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/auditlog"
)

// maxAuditCursorBytes: the merged cursor holds one position per service
// (each a service cursor of about 100 bytes), so it is longer than the
// others.
const maxAuditCursorBytes = 2048

// maxTargetIDBytes bounds ?target_id= (a user id or a workflow slug).
const maxTargetIDBytes = 255

type auditEventJSON struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	ActorID    string          `json:"actor_id"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Reason     string          `json:"reason"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	CreatedAt  *string         `json:"created_at"`
}

func toAuditEvent(e auditlog.Event) auditEventJSON {
	created := e.CreatedAt.UTC().Format(time.RFC3339)
	return auditEventJSON{
		ID: e.ID, Source: e.Source, ActorID: e.ActorID, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, Reason: e.Reason,
		Before: rawOrNull(e.Before), After: rawOrNull(e.After), CreatedAt: &created,
	}
}

// adminListAudit merges the audit logs of identity, wallet and workflow,
// newest first (auditlog.Merge).
func (s *Server) adminListAudit(c *fiber.Ctx) error {
	limit, cursor, err := listParamsCursor(c, maxAuditCursorBytes)
	if err != nil {
		return err
	}
	target, err := queryText(c, "target_id", maxTargetIDBytes)
	if err != nil {
		return err
	}
	source, err := oneOf(c, "source", auditlog.SourceNames...)
	if err != nil {
		return err
	}
	sources := auditlog.Clients{Identity: s.d.Identity, Wallet: s.d.Wallet, Workflow: s.d.Workflow}.Sources(target, source)
	// The cursor is only valid with the filters it was made under.
	scope := url.Values{"target_id": {target}, "source": {source}}.Encode()
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	page, err := auditlog.Merge(ctx, sources, scope, cursor, int(limit))
	switch {
	case errors.Is(err, auditlog.ErrInvalidCursor):
		return validationField("cursor", "is not a cursor of this list with these filters; start from the first page")
	case err != nil:
		// Answer with the service's own status, not the merge's wrapping
		// of it, so the problem detail is the service's message.
		var se interface{ GRPCStatus() *status.Status }
		if errors.As(err, &se) {
			s.d.Log.WarnContext(c.UserContext(), "audit log read failed", "err", err, "request_id", requestID(c))
			return se.GRPCStatus().Err()
		}
		return err
	}
	items := make([]auditEventJSON, 0, len(page.Events))
	for _, e := range page.Events {
		items = append(items, toAuditEvent(e))
	}
	return c.JSON(newList(items, page.NextCursor))
}
