package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/keyspend"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// keyScopes are the scopes a key may have, as the form offers them.
var keyScopes = []struct{ Name, Means string }{
	{"workflows:read", "list workflows"},
	{"runs:write", "start runs"},
	{"runs:read", "read runs"},
	{"wallet:read", "read the balance and transactions"},
}

// keyRow is a key with its spend this month (the wallet's).
type keyRow keyspend.Key

// Status words the key's state.
func (k keyRow) Status() string {
	switch {
	case k.Key.GetRevokedAt() != nil:
		return "revoked"
	case k.Key.GetExpiresAt() != nil && k.Key.GetExpiresAt().AsTime().Before(time.Now()):
		return "expired"
	}
	return "active"
}

// keysView is the keys page: the list, the create form, and once, the
// secret of the key just created.
type keysView struct {
	*Form
	Rows    []keyRow
	Next    string
	Paged   bool
	Filter  url.Values
	Scopes  []struct{ Name, Means string }
	Checked map[string]bool
	// Created is the key just made, and Secret its secret: shown this once.
	Created *identityv1.APIKey
	Secret  string
}

func (p *Portal) keys(x *fiber.Ctx, s *web.Session) error {
	v := keysView{Form: p.newForm(), Scopes: keyScopes, Checked: map[string]bool{}}
	for _, sc := range keyScopes {
		v.Checked[sc.Name] = true
	}
	return p.renderKeys(x, s, http.StatusOK, v)
}

// renderKeys lists the keys around v's form.
func (p *Portal) renderKeys(x *fiber.Ctx, s *web.Session, code int, v keysView) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	keys, next, err := keyspend.List(ctx, p.d.Identity, p.d.Wallet, pageSize, x.Query("cursor"))
	if err != nil {
		return err
	}
	for _, k := range keys {
		v.Rows = append(v.Rows, keyRow(k))
	}
	v.Next, v.Paged, v.Filter = next, x.Query("cursor") != "", url.Values{}
	return p.render(x, s, code, "keys", "API keys", "keys", v)
}

func (p *Portal) createKey(x *fiber.Ctx, s *web.Session) error {
	v := keysView{Form: p.newForm(), Scopes: keyScopes, Checked: map[string]bool{}}
	name := strings.TrimSpace(x.FormValue("name"))
	v.Values["name"] = name
	req := &identityv1.CreateAPIKeyRequest{Name: name}
	for _, sc := range keyScopes {
		if x.FormValue("scope_"+sc.Name) != "" {
			v.Checked[sc.Name] = true
			req.Scopes = append(req.Scopes, sc.Name)
		}
	}
	if name == "" {
		v.fail("name", "Give the key a name, e.g. the script or server that uses it.")
	}
	if len(req.Scopes) == 0 {
		v.fail("scopes", "Choose at least one thing the key may do.")
	}
	if exp := x.FormValue("expires"); exp != "" {
		v.Values["expires"] = exp
		d, err := time.Parse(time.DateOnly, exp)
		if err != nil {
			v.fail("expires", "Enter a date like 2030-01-31, or leave it empty.")
		} else {
			// The key works through the whole day it names (UTC).
			req.ExpiresAt = timestamppb.New(d.Add(24 * time.Hour))
		}
	}
	req.MonthlySpendLimitCents = v.amount("limit", strings.TrimSpace(x.FormValue("limit")))
	if v.failed() {
		return p.renderKeys(x, s, http.StatusBadRequest, v)
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Identity.CreateAPIKey(ctx, req)
	if err != nil {
		if err := v.refused(err, map[string]string{"name": "name", "scopes": "scopes", "expires_at": "expires", "monthly_spend_limit_cents": "limit"}); err != nil {
			return err
		}
		return p.renderKeys(x, s, problem.FromError(err).Status, v)
	}
	// The secret is in this answer only: not stored, not in a redirect.
	done := keysView{Form: p.newForm(), Scopes: keyScopes, Checked: map[string]bool{}, Created: r.GetKey(), Secret: r.GetSecret()}
	for _, sc := range keyScopes {
		done.Checked[sc.Name] = true
	}
	return p.renderKeys(x, s, http.StatusCreated, done)
}

// revokeView is the confirmation of a revocation.
type revokeView struct {
	Key *identityv1.APIKey
}

// ownKey finds one of the user's keys; 404 for any other id.
func (p *Portal) ownKey(x *fiber.Ctx, s *web.Session) (*identityv1.APIKey, error) {
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return nil, web.ErrNotFound
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	cursor := ""
	for {
		r, err := p.d.Identity.ListAPIKeys(ctx, &identityv1.ListAPIKeysRequest{Limit: 200, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(r.GetKeys(), func(k *identityv1.APIKey) bool { return strings.EqualFold(k.GetId(), id) }); i >= 0 {
			return r.GetKeys()[i], nil
		}
		if cursor = r.GetNextCursor(); cursor == "" {
			return nil, web.ErrNotFound
		}
	}
}

func (p *Portal) revokeConfirm(x *fiber.Ctx, s *web.Session) error {
	k, err := p.ownKey(x, s)
	if err != nil {
		return err
	}
	return p.render(x, s, http.StatusOK, "key_revoke", "Revoke "+k.GetName(), "keys", revokeView{Key: k})
}

func (p *Portal) revokeKey(x *fiber.Ctx, s *web.Session) error {
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return web.ErrNotFound
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	// identity answers 404 for another user's key; revoking twice is fine.
	if _, err := p.d.Identity.RevokeAPIKey(ctx, &identityv1.RevokeAPIKeyRequest{Id: id}); err != nil {
		return err
	}
	return p.site.FlashRedirect(x, s, "The key is revoked: it stops working within seconds.", p.site.Base()+"/keys")
}
