package web

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// stylesheetName is the one stylesheet of every site, served at
// <base>/static/site.css; no page has inline styles (the CSP forbids them).
const stylesheetName = "site.css"

//go:embed static/site.css
var siteCSS []byte

// serveCSS sends the stylesheet.
func serveCSS(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	return c.Send(siteCSS)
}
