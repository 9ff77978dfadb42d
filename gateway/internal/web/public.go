package web

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Public pages need no login: the pages the emailed links open (verify
// the email, set a new password) work for whoever holds the link. Their
// forms carry the double-submit token of the login form (FormToken, held
// in the Site.LoginCookie cookie), checked by FormTokenOK: a page of
// another site cannot post them with the visitor's cookie.

// MountPublic serves the shared parts of public pages on r: the security
// headers and UTF-8 check, and the stylesheet. The site registers its
// public pages after it. Mount does the same and adds the login; a site
// has one or the other at one path.
func (s *Server) MountPublic(r fiber.Router) {
	s.base = strings.TrimSuffix(s.cfg.BasePath, "/")
	if s.cfg.BasePath == "" {
		s.base = s.site.DefaultPath
		if g, ok := r.(*fiber.Group); ok {
			s.base = strings.TrimSuffix(g.Prefix, "/")
		}
	}
	r.Use(securityHeaders, requireUTF8)
	r.Get("/static/"+stylesheetName, serveCSS)
}

// FormToken returns the CSRF token of a public form, setting a new one
// in the browser when it has none.
func (s *Server) FormToken(x *fiber.Ctx) string { return s.loginToken(x) }

// FormTokenOK reports whether a public form's post carries the token of
// its browser's cookie.
func (s *Server) FormTokenOK(x *fiber.Ctx) bool {
	return equalTokens(x.Cookies(s.site.LoginCookie), x.FormValue("csrf"))
}
