package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"time"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

var migrationsFS = migrations.FS

const defaultGrace = 10 * time.Second

// AdminResult is what CreateAdmin did.
type AdminResult struct {
	UserID   string
	Email    string
	IsActive bool
	// Created is true for a new user, false for a promoted existing one.
	Created bool
}

// CreateAdmin makes email an admin (the create-admin command): a new user
// with password (validated as at sign-up), or, when the email exists in any
// letter case, a promotion that leaves the user's password and is_active
// unchanged. Either way an audit event with actor "cli" is written. The
// database must be migrated.
func CreateAdmin(ctx context.Context, cfg Config, email, password string) (AdminResult, error) {
	hasher, err := identity.NewHasher(identity.Argon2Params(cfg.Argon2))
	if err != nil {
		return AdminResult{}, err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return AdminResult{}, err
	}
	defer pool.Close()
	svc := identity.NewService(identity.Config{Store: postgres.New(pool), Hasher: hasher, Now: cfg.Now})
	u, created, err := svc.CreateAdmin(ctx, email, password)
	if err != nil {
		return AdminResult{}, fmt.Errorf("create-admin: %w", err)
	}
	return AdminResult{UserID: u.ID, Email: u.Email, IsActive: u.IsActive, Created: created}, nil
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
		return "", fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("keygen: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("keygen: write %s: %w", path, err)
	}
	return identity.KeyID(key.Public().(ed25519.PublicKey)), nil
}
