package api

import (
	"net/http"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// requireUTF8 refuses a request whose decoded path or query parameters are
// not UTF-8 text: they travel on to the services as protobuf strings, which
// cannot carry other bytes, so the call would fail as a 500 (found by
// FuzzRequestDecoders). A path names no resource then, a query parameter is
// a 400 naming it.
func (s *Server) requireUTF8(c *fiber.Ctx) error {
	if !utf8.Valid(c.Request().URI().Path()) {
		return problem.New(http.StatusNotFound, rpcerr.NotFound, "No such resource.")
	}
	var bad []byte
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		if bad == nil && (!utf8.Valid(k) || !utf8.Valid(v)) {
			bad = k
		}
	})
	if bad != nil {
		field := "query"
		if utf8.Valid(bad) && len(bad) <= 64 {
			field = string(bad)
		}
		return validationField(field, "must be UTF-8 text")
	}
	return c.Next()
}
