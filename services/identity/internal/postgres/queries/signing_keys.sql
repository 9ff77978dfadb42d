-- Signing keys are leased: a replica registers the key it signs with and
-- renews its lease (retired_at, the end of the lease) every minute, so a
-- key is active while any replica signs with it, and nobody retires
-- another replica's key. retired_at NULL is a key registered by a release
-- before leases (active for good); it gets a lease once.

-- name: PublishSigningKey :exec
-- Registers kid or extends its lease (never shortens it: GREATEST ignores
-- a NULL, so an unleased row gets this lease).
INSERT INTO signing_keys (kid, public_key, activated_at, retired_at)
VALUES (@kid, @public_key, @now::timestamptz, @lease_end::timestamptz)
ON CONFLICT (kid) DO UPDATE SET retired_at = GREATEST(signing_keys.retired_at, EXCLUDED.retired_at);

-- name: LeaseUnleasedSigningKeys :exec
-- Keys of a release before leases, other than kid: one lease from now; a
-- replica of that release still running does not renew it.
UPDATE signing_keys SET retired_at = @lease_end::timestamptz
WHERE retired_at IS NULL AND kid <> @kid;

-- name: PublishedSigningKeys :many
SELECT * FROM signing_keys
WHERE retired_at IS NULL OR retired_at > @retired_after::timestamptz
ORDER BY activated_at DESC, kid;
