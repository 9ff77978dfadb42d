package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// templateFS holds the shared templates: layout.html (the page around
// every page's "content"), parts.html (form parts), and the shared pages
// error.html and login.html.
//
//go:embed templates/*.html
var templateFS embed.FS

// sharedParts are parsed into every page; the other shared files are pages.
var sharedParts = []string{"templates/layout.html", "templates/parts.html"}

// parsePages parses each page, the site's and the shared ones, together
// with the layout, the shared parts and the site's parts ("_*.html"). A
// site's part may redefine a block of the layout (e.g. "nav").
func parsePages(site Site) (map[string]*template.Template, error) {
	funcs := maps.Clone(Funcs)
	maps.Copy(funcs, site.Funcs)
	var siteParts, sitePages []string
	if site.Pages != nil {
		names, err := fs.Glob(site.Pages, "*.html")
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if strings.HasPrefix(n, "_") {
				siteParts = append(siteParts, n)
			} else {
				sitePages = append(sitePages, n)
			}
		}
	}
	pages := map[string]*template.Template{}
	parse := func(pfs fs.FS, file string) error {
		name := strings.TrimSuffix(path.Base(file), ".html")
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, sharedParts...)
		if err == nil && len(siteParts) > 0 {
			t, err = t.ParseFS(site.Pages, siteParts...)
		}
		if err == nil {
			t, err = t.ParseFS(pfs, file)
		}
		if err != nil {
			return fmt.Errorf("%s template %s: %w", site.ID, file, err)
		}
		pages[name] = t
		return nil
	}
	for _, f := range []string{"templates/error.html", "templates/login.html"} {
		if err := parse(templateFS, f); err != nil {
			return nil, err
		}
	}
	for _, f := range sitePages {
		if err := parse(site.Pages, f); err != nil {
			return nil, err
		}
	}
	return pages, nil
}

// ParsePages parses the site's templates now, as the first page shown
// would, and returns the first error: the sites' tests call it, so that a
// broken template fails a test rather than a user's first page.
func (c *Server) ParsePages() error {
	_, err := c.pages()
	return err
}

// View is what every page template receives: the page's own data in Data,
// and what the layout shows around it.
type View struct {
	// Site is the site's name; Base its path; Home names its start page.
	Site, Base, Home string
	Title            string
	// Nav names the active entry of the header's navigation.
	Nav string
	// Me is the signed-in user's email ("" on the login page); CSRF the
	// session's token for the forms.
	Me, CSRF string
	// Flash is a one-time notice.
	Flash string
	Data  any
}

// Render writes page name with data; it consumes the session's flash.
func (c *Server) Render(x *fiber.Ctx, s *Session, code int, name, title, nav string, data any) error {
	v := View{Site: c.site.Name, Base: c.base, Home: c.site.Home, Title: title, Nav: nav, Data: data}
	if s != nil {
		v.Me, v.CSRF, v.Flash = s.Email, s.CSRF, s.Flash
		if s.Flash != "" {
			s.Flash = ""
			if err := c.SaveSession(x.UserContext(), s); err != nil {
				c.log.WarnContext(x.UserContext(), "could not clear a flash message", "err", err)
			}
		}
	}
	pages, err := c.pages()
	if err != nil {
		return err
	}
	t, ok := pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.ErrorContext(x.UserContext(), "template failed", "page", name, "err", err)
		return x.Status(fiber.StatusInternalServerError).SendString("The page could not be shown.")
	}
	x.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return x.Status(code).Send(buf.Bytes())
}

// FlashRedirect stores a notice for the next page and redirects there.
func (c *Server) FlashRedirect(x *fiber.Ctx, s *Session, msg, to string) error {
	s.Flash = msg
	if err := c.SaveSession(x.UserContext(), s); err != nil {
		c.log.WarnContext(x.UserContext(), "could not save a flash message", "err", err)
	}
	return x.Redirect(to, fiber.StatusSeeOther)
}
