package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres"
)

// AdminResult is what CreateAdmin or CreateOrPromoteAdmin did.
type AdminResult struct {
	UserID   string
	Email    string
	IsActive bool
	// Created is true for a new user, false for a promoted existing one.
	Created bool
}

// ErrAccountExists: create-admin was given the email of an existing
// account without --promote-existing; nothing was changed.
var ErrAccountExists = errors.New("an account with this email already exists")

// CreateAdmin is `identity create-admin`: it creates a new active admin
// with password (validated as at sign-up) and its email marked verified.
// An email that already has an account, in any letter case, is
// ErrAccountExists and changes nothing. The database must be migrated.
func CreateAdmin(ctx context.Context, cfg Config, email, password string) (AdminResult, error) {
	return createAdmin(ctx, cfg, email, password, false)
}

// CreateOrPromoteAdmin is `identity create-admin --promote-existing`: as
// CreateAdmin, but an existing account is promoted to admin, its password
// replaced with password, its email marked verified and every refresh
// token of it revoked, in one transaction (a disabled account stays
// disabled). Either way audit events with actor "cli" are written.
func CreateOrPromoteAdmin(ctx context.Context, cfg Config, email, password string) (AdminResult, error) {
	return createAdmin(ctx, cfg, email, password, true)
}

func createAdmin(ctx context.Context, cfg Config, email, password string, promoteExisting bool) (AdminResult, error) {
	hasher, err := identity.NewHasher(identity.Argon2Params(cfg.Argon2), cfg.hashConcurrency())
	if err != nil {
		return AdminResult{}, err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return AdminResult{}, err
	}
	defer pool.Close()
	svc := identity.NewService(identity.Config{Store: postgres.New(pool, nil), Hasher: hasher, Now: cfg.Now})
	u, created, err := svc.CreateAdmin(ctx, email, password, promoteExisting)
	if errors.Is(err, identity.ErrEmailTaken) {
		return AdminResult{}, ErrAccountExists
	}
	if err != nil {
		return AdminResult{}, err
	}
	return AdminResult{UserID: u.ID.String(), Email: u.Email, IsActive: u.IsActive, Created: created}, nil
}

// GenerateKeyFile writes a new Ed25519 signing key to path as PEM PKCS#8,
// readable by the owner only, and returns its kid. An existing file is
// never overwritten: replacing a key is a deliberate rotation.
func GenerateKeyFile(path string) (string, error) {
	key, err := identity.GenerateKey()
	if err != nil {
		return "", err
	}
	data, err := identity.MarshalPrivateKeyPEM(key)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return identity.KeyID(key.Public().(ed25519.PublicKey)), nil
}
