package api

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// The account lifecycle (shared/spec/api.md, "Account lifecycle and
// email"); identity holds the rules, these handlers only map them.

// acceptedJSON is the body of the 202 answers that queue an email. The
// password-reset request answers the same whoever owns the address.
type acceptedJSON struct {
	Message string `json:"message"`
}

const (
	resetAccepted  = "If an active account has this email, a link to reset its password is on its way; it works for 30 minutes."
	resendAccepted = "A new verification link is on its way; it works for 48 hours, and older links no longer do."
)

type tokenBody struct {
	Token string `json:"token"`
}

type emailBody struct {
	Email string `json:"email"`
}

type resetConfirmBody struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type passwordChangeBody struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) verifyEmail(c *fiber.Ctx) error {
	var b tokenBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Identity.VerifyEmail(ctx, &identityv1.VerifyEmailRequest{Token: b.Token}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// resendVerification sends the caller a new verification link, at most
// Limits.EmailsPerHour an hour per user (each is an email to someone's
// inbox).
func (s *Server) resendVerification(c *fiber.Ctx) error {
	if err := s.limitEmails(c, ratelimit.UserKey(principal(c).UserID)); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Identity.ResendVerification(ctx, &identityv1.ResendVerificationRequest{}); err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(acceptedJSON{Message: resendAccepted})
}

// requestPasswordReset queues a reset link. Besides the per-IP limit of
// /v1/auth/*, each address gets at most Limits.EmailsPerHour requests an
// hour, whoever asks and whether or not it has an account (the limit is
// keyed on the address's hash, so it tells nothing and stores no address).
func (s *Server) requestPasswordReset(c *fiber.Ctx) error {
	var b emailBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.Email) != "" {
		if err := s.limitEmails(c, ratelimit.EmailKey(b.Email)); err != nil {
			return err
		}
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Identity.RequestPasswordReset(ctx, &identityv1.RequestPasswordResetRequest{Email: b.Email}); err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(acceptedJSON{Message: resetAccepted})
}

func (s *Server) confirmPasswordReset(c *fiber.Ctx) error {
	var b resetConfirmBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Identity.ConfirmPasswordReset(ctx, &identityv1.ConfirmPasswordResetRequest{Token: b.Token, Password: b.Password}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// changePassword changes the caller's password; the login of the access
// token (its sid) stays, every other ends.
func (s *Server) changePassword(c *fiber.Ctx) error {
	var b passwordChangeBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	_, err := s.d.Identity.ChangePassword(ctx, &identityv1.ChangePasswordRequest{
		CurrentPassword: b.CurrentPassword, NewPassword: b.NewPassword, ClientIp: ipString(s.clientIP(c)),
	})
	if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) logoutAll(c *fiber.Ctx) error {
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Identity.LogoutAll(ctx, &identityv1.LogoutAllRequest{}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// limitEmails applies the emails-per-hour budget of key (class "emails").
func (s *Server) limitEmails(c *fiber.Ctx, key string) error {
	if s.d.Limiter == nil || s.d.Limits.EmailsPerHour <= 0 {
		return nil
	}
	return s.decide(c, s.d.Limiter.AllowPer(c.UserContext(), ratelimit.ClassEmails, key, s.d.Limits.EmailsPerHour, ratelimit.EmailPeriod))
}

var errEmailNotVerified = problem.New(http.StatusForbidden, rpcerr.EmailNotVerified,
	"Verify your email first: open the link we emailed you, or ask for a new one with POST /v1/me/verify-email.")

// requireVerifiedEmail refuses top-ups and runs with 403 email_not_verified
// while the user's email is not verified, when RequireVerifiedEmail is set
// (docs/adr/0006-account-lifecycle.md). It reads the token's ev claim; a
// login's token that says false may predate the verification, so identity
// is asked once before refusing (a user who just verified is not refused
// until the token refreshes). An API key's token is issued at most 3 s
// before (apikeyauth's cache), so its claim is taken as it is.
func (s *Server) requireVerifiedEmail(c *fiber.Ctx) error {
	p := principal(c)
	if !s.d.RequireVerifiedEmail || p.EmailVerified {
		return c.Next()
	}
	if p.ViaAPIKey() {
		return errEmailNotVerified
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Identity.GetUser(ctx, &identityv1.GetUserRequest{})
	if err != nil {
		return err
	}
	if !resp.GetUser().GetEmailVerified() {
		return errEmailNotVerified
	}
	return c.Next()
}
