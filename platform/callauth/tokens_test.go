package callauth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
)

type staticKeys map[string]ed25519.PublicKey

func (s staticKeys) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, callauth.ErrInvalidToken
}

func sign(t *testing.T, priv ed25519.PrivateKey, kid string, mutate func(*callauth.AccessClaims)) string {
	t.Helper()
	now := time.Now()
	c := callauth.AccessClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: authtest.Issuer, Audience: jwt.ClaimStrings{authtest.Audience}, Subject: "user-1",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}}
	if mutate != nil {
		mutate(&c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAccessVerifier(t *testing.T) {
	t.Parallel()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	v := callauth.AccessVerifier{Keys: staticKeys{"k1": pub}, Issuer: authtest.Issuer, Audience: authtest.Audience}

	valid := sign(t, priv, "k1", nil)
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload[len(payload)/2] ^= 0x01
	flipped := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]

	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"k1"}`)) + "." + parts[1] + "."
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": authtest.Issuer, "aud": authtest.Audience, "sub": "user-1", "exp": time.Now().Add(time.Minute).Unix()})
	hs.Header["kid"] = "k1"
	hsWithPublicKey, _ := hs.SignedString([]byte(pub))

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", valid, true},
		{"alg none", none, false},
		{"HS256 signed with the public key bytes", hsWithPublicKey, false},
		{"flipped payload byte", flipped, false},
		{"expired", sign(t, priv, "k1", func(c *callauth.AccessClaims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
		}), false},
		{"no exp", sign(t, priv, "k1", func(c *callauth.AccessClaims) { c.ExpiresAt = nil }), false},
		{"wrong iss", sign(t, priv, "k1", func(c *callauth.AccessClaims) { c.Issuer = "evil" }), false},
		{"wrong aud", sign(t, priv, "k1", func(c *callauth.AccessClaims) { c.Audience = jwt.ClaimStrings{"other"} }), false},
		{"no sub", sign(t, priv, "k1", func(c *callauth.AccessClaims) { c.Subject = "" }), false},
		{"unknown kid", sign(t, priv, "k2", nil), false},
		{"no kid", sign(t, priv, "", nil), false},
		{"other key", sign(t, otherPriv, "k1", nil), false},
		{"garbage", "not.a.jwt", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if tc.ok && (err != nil || p.UserID != "user-1") {
				t.Fatalf("Verify(valid) = %+v, %v", p, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("Verify accepted a bad token")
			}
		})
	}
}

func TestServiceTokenAudienceAndSecret(t *testing.T) {
	t.Parallel()
	m := authtest.Minter(t, "gateway")
	tok, err := m.Token("wallet")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := m.Token("wallet"); again != tok {
		t.Errorf("token not reused within its reuse window")
	}
	if _, err := callauth.NewMinter("gateway", []byte("short")); err == nil {
		t.Errorf("NewMinter accepted a short secret")
	}
}
