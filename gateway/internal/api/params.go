package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// List paging bounds of the contract.
const (
	defaultLimit   = 50
	maxLimit       = 200
	maxCursorBytes = 1024
)

// listParams reads ?limit= and ?cursor=.
func listParams(c *fiber.Ctx) (int32, string, error) {
	return listParamsCursor(c, maxCursorBytes)
}

// listParamsCursor reads ?limit= and a ?cursor= of at most maxCursor bytes.
func listParamsCursor(c *fiber.Ctx, maxCursor int) (int32, string, error) {
	limit := defaultLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, "", problem.Validation("limit must be an integer from 1 to 200.",
				problem.FieldError{Field: "limit", Message: "must be an integer from 1 to 200"})
		}
		limit = n
	}
	cursor := c.Query("cursor")
	if len(cursor) > maxCursor {
		return 0, "", problem.Validation("cursor is not valid.",
			problem.FieldError{Field: "cursor", Message: "invalid cursor"})
	}
	return int32(limit), strings.Clone(cursor), nil
}

// oneOf checks an optional enum query parameter.
func oneOf(c *fiber.Ctx, name string, allowed ...string) (string, error) {
	v := c.Query(name)
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return a, nil
		}
	}
	return "", problem.Validation(name+" is not one of the accepted values.",
		problem.FieldError{Field: name, Message: "must be one of " + strings.Join(allowed, ", ")})
}

// pathUUID returns the path parameter as a canonical UUID; anything else
// names no resource, so it is a 404 like any unknown id.
func pathUUID(c *fiber.Ctx, name string) (string, error) {
	v := c.Params(name)
	id, err := uuid.Parse(v)
	if err != nil || len(v) != 36 {
		return "", problem.New(http.StatusNotFound, rpcerr.NotFound, "No such "+strings.TrimSuffix(name, "_id")+".")
	}
	return id.String(), nil
}

// queryUUID reads an optional UUID filter.
func queryUUID(c *fiber.Ctx, name string) (string, error) {
	v := c.Query(name)
	if v == "" {
		return "", nil
	}
	id, err := uuid.Parse(v)
	if err != nil || len(v) != 36 {
		return "", problem.Validation(name+" must be a UUID.", problem.FieldError{Field: name, Message: "must be a UUID"})
	}
	return id.String(), nil
}

// idempotencyKey reads the optional Idempotency-Key header (1-255 visible ASCII characters).
func idempotencyKey(c *fiber.Ctx) (string, error) {
	raw := c.Request().Header.Peek("Idempotency-Key")
	if raw == nil {
		return "", nil
	}
	k := string(raw)
	ok := len(k) >= 1 && len(k) <= 255
	for i := 0; ok && i < len(k); i++ {
		ok = k[i] > 0x20 && k[i] < 0x7f
	}
	if !ok {
		return "", problem.Validation("Idempotency-Key must be 1 to 255 visible ASCII characters.",
			problem.FieldError{Field: "Idempotency-Key", Message: "must be 1 to 255 visible ASCII characters"})
	}
	return k, nil
}

// slugParam reads a workflow slug from the path.
func slugParam(c *fiber.Ctx) string {
	return strings.Clone(c.Params("slug"))
}

// validationField is a 400 naming one field.
func validationField(field, msg string) error {
	return problem.Validation(field+": "+msg+".", problem.FieldError{Field: field, Message: msg})
}

// queryTime reads an optional RFC 3339 time filter.
func queryTime(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, validationField(name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
	}
	return t, nil
}

// queryText reads an optional free-text query parameter of at most max
// bytes, copied out of Fiber's request buffer.
func queryText(c *fiber.Ctx, name string, max int) (string, error) {
	v := c.Query(name)
	if len(v) > max {
		return "", validationField(name, "must be at most "+strconv.Itoa(max)+" bytes")
	}
	return strings.Clone(v), nil
}
