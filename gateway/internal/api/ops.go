package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	swaggerui "github.com/swaggest/swgui/v5/static"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

//go:embed docsassets/index.html docsassets/init.js
var docsFS embed.FS

// docsCSP lets the docs page load its own scripts and styles only; Swagger
// UI sets style attributes at run time, hence 'unsafe-inline' for styles
// (never for scripts).
const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// readyTimeout bounds one /readyz check of all dependencies.
const readyTimeout = 2 * time.Second

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.d.Ready == nil {
		return c.JSON(fiber.Map{"status": "ok"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), readyTimeout)
	defer cancel()
	status, body := s.d.Ready(ctx)
	return c.Status(status).JSON(body)
}

func (s *Server) openapi(c *fiber.Ctx) error {
	if s.d.OpenAPI == nil {
		return problem.New(http.StatusNotFound, rpcerr.NotFound, "No such route.")
	}
	doc, err := s.d.OpenAPI()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/json")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(doc)
}

func (s *Server) docsIndex(c *fiber.Ctx) error {
	b, err := docsFS.ReadFile("docsassets/index.html")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b)
}

// docsAssets maps each served asset to its file and type.
var docsAssets = map[string]struct {
	fsys fs.FS
	file string
	mime string
}{
	"init.js":              {docsFS, "docsassets/init.js", "text/javascript; charset=utf-8"},
	"swagger-ui-bundle.js": {swaggerui.FS, "swagger-ui-bundle.js.gz", "text/javascript; charset=utf-8"},
	"swagger-ui.css":       {swaggerui.FS, "swagger-ui.css.gz", "text/css; charset=utf-8"},
	"favicon-32x32.png":    {swaggerui.FS, "favicon-32x32.png", "image/png"},
	"favicon-16x16.png":    {swaggerui.FS, "favicon-16x16.png", "image/png"},
	"swagger-ui.js":        {swaggerui.FS, "swagger-ui.js.gz", "text/javascript; charset=utf-8"},
	"swagger-ui-preset.js": {swaggerui.FS, "swagger-ui-standalone-preset.js.gz", "text/javascript; charset=utf-8"},
	"oauth2-redirect.html": {swaggerui.FS, "oauth2-redirect.html.gz", "text/html; charset=utf-8"},
}

func (s *Server) docsAsset(c *fiber.Ctx) error {
	a, ok := docsAssets[c.Params("asset")]
	if !ok || a.fsys == nil {
		return problem.New(http.StatusNotFound, rpcerr.NotFound, "No such route.")
	}
	b, err := fs.ReadFile(a.fsys, a.file)
	if err != nil {
		return err
	}
	if strings.HasSuffix(a.file, ".gz") {
		if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
			c.Set(fiber.HeaderContentEncoding, "gzip")
		} else {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		c.Set(fiber.HeaderVary, fiber.HeaderAcceptEncoding)
	}
	c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	c.Set(fiber.HeaderContentType, a.mime)
	return c.Send(b)
}
