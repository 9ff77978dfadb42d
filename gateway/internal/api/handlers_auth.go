package api

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

type credentialsBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) signup(c *fiber.Ctx) error {
	var b credentialsBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Identity.SignUp(ctx, &identityv1.SignUpRequest{Email: b.Email, Password: b.Password})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(toTokenPair(resp.GetTokens(), resp.GetUser()))
}

func (s *Server) login(c *fiber.Ctx) error {
	var b credentialsBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	// identity throttles guesses per account and client address, so the
	// client address travels with the credentials.
	resp, err := s.d.Identity.Login(ctx, &identityv1.LoginRequest{Email: b.Email, Password: b.Password, ClientIp: ipString(s.clientIP(c))})
	if err != nil {
		return err
	}
	return c.JSON(toTokenPair(resp.GetTokens(), resp.GetUser()))
}

func (s *Server) refresh(c *fiber.Ctx) error {
	var b refreshBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Identity.Refresh(ctx, &identityv1.RefreshRequest{RefreshToken: b.RefreshToken})
	if err != nil {
		return err
	}
	return c.JSON(toTokenPair(resp.GetTokens(), nil))
}

func (s *Server) logout(c *fiber.Ctx) error {
	var b refreshBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Identity.Logout(ctx, &identityv1.LogoutRequest{RefreshToken: b.RefreshToken}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) me(c *fiber.Ctx) error {
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Identity.GetUser(ctx, &identityv1.GetUserRequest{})
	if err != nil {
		return err
	}
	return c.JSON(toUser(resp.GetUser()))
}
