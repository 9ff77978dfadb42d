package identity

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// ActorCLI is the actor id of changes made by the create-admin command.
const ActorCLI = "cli"

// AuditEvent records one change made by an admin or an operator. ActorID
// and TargetID stay text: the actor is a user id or ActorCLI, and the
// target's kind is TargetType.
type AuditEvent struct {
	ID         uuid.UUID
	ActorID    string
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	// Before and After are JSON objects of the changed fields.
	Before    []byte
	After     []byte
	CreatedAt time.Time
}

// UserChange is an admin's change of a user's flags; nil fields stay.
type UserChange struct {
	ID       uuid.UUID
	IsActive *bool
	IsAdmin  *bool
	Reason   string
}

// Apply returns u with the change's flags set.
func (c UserChange) Apply(u User) User {
	if c.IsActive != nil {
		u.IsActive = *c.IsActive
	}
	if c.IsAdmin != nil {
		u.IsAdmin = *c.IsAdmin
	}
	return u
}

// decide is the change of before that actor's UserChange makes: nil when
// no flag changes (nothing is written, not even an audit event), else the
// new flags with one audit event per changed flag, and the revocation of
// every refresh token of a user it disables.
func (c UserChange) decide(before User, actor string, now time.Time) (*UserUpdate, error) {
	after := c.Apply(before)
	events := AuditEventsForChange(before, after, actor, c.Reason, now)
	if len(events) == 0 {
		return nil, nil
	}
	return &UserUpdate{After: after, RevokeTokens: before.IsActive && !after.IsActive, Audit: events}, nil
}

// AuditEventsForChange returns one event per flag that differs between
// before and after ("user.disable", "user.enable", "user.promote",
// "user.demote"); IDs are left to the store.
func AuditEventsForChange(before, after User, actorID, reason string, now time.Time) []AuditEvent {
	var out []AuditEvent
	add := func(action, field string, was, is bool) {
		b, _ := json.Marshal(map[string]bool{field: was})
		a, _ := json.Marshal(map[string]bool{field: is})
		out = append(out, AuditEvent{
			ActorID: actorID, Action: action, TargetType: "user", TargetID: after.ID.String(),
			Reason: reason, Before: b, After: a, CreatedAt: now,
		})
	}
	if before.IsActive != after.IsActive {
		action := "user.enable"
		if !after.IsActive {
			action = "user.disable"
		}
		add(action, "is_active", before.IsActive, after.IsActive)
	}
	if before.IsAdmin != after.IsAdmin {
		action := "user.promote"
		if !after.IsAdmin {
			action = "user.demote"
		}
		add(action, "is_admin", before.IsAdmin, after.IsAdmin)
	}
	return out
}

// promoteExistingUser is create-admin --promote-existing's change of an
// existing account: admin, the operator's password, email verified (the
// operator vouches for the address), and every refresh token revoked, so
// whoever held the account before keeps no login.
func promoteExistingUser(before User, passwordHash string, now time.Time) (*UserUpdate, error) {
	after := before
	after.IsAdmin = true
	if after.EmailVerifiedAt == nil {
		after.EmailVerifiedAt = &now
	}
	const reason = "identity create-admin --promote-existing"
	events := AuditEventsForChange(before, after, ActorCLI, reason, now)
	b, _ := json.Marshal(map[string]any{"email_verified": before.EmailVerified()})
	a, _ := json.Marshal(map[string]any{"email_verified": true, "password": "replaced", "refresh_tokens": "revoked"})
	events = append(events, AuditEvent{
		ActorID: ActorCLI, Action: "user.credentials_reset", TargetType: "user", TargetID: before.ID.String(),
		Reason: reason, Before: b, After: a, CreatedAt: now,
	})
	return &UserUpdate{After: after, PasswordHash: passwordHash, RevokeTokens: true, Audit: events}, nil
}

// auditCreateAdmin is the event of an admin created by the command line.
func auditCreateAdmin(u User, now time.Time) AuditEvent {
	a, _ := json.Marshal(map[string]any{"email": u.Email, "is_admin": true, "is_active": true, "email_verified": true})
	return AuditEvent{
		ActorID: ActorCLI, Action: "user.create_admin", TargetType: "user", TargetID: u.ID.String(),
		Reason: "identity create-admin", After: a, CreatedAt: now,
	}
}
