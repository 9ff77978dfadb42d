package console

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

//go:embed static/console.css
var consoleCSS []byte

// serveCSS sends the console's one stylesheet.
func serveCSS(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	return c.Send(consoleCSS)
}
