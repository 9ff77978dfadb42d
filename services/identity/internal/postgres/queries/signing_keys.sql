-- name: LockSigningKeys :exec
-- Serializes key registration so replicas starting together agree on one
-- active key.
SELECT pg_advisory_xact_lock(hashtext('meterflow_identity.signing_keys'));

-- name: UpsertActiveSigningKey :exec
INSERT INTO signing_keys (kid, public_key, activated_at)
VALUES ($1, $2, @now::timestamptz)
ON CONFLICT (kid) DO UPDATE SET retired_at = NULL
WHERE signing_keys.retired_at IS NOT NULL;

-- name: RetireOtherSigningKeys :exec
UPDATE signing_keys SET retired_at = @now::timestamptz
WHERE kid <> @kid AND retired_at IS NULL;

-- name: PublishedSigningKeys :many
SELECT * FROM signing_keys
WHERE retired_at IS NULL OR retired_at > @retired_after::timestamptz
ORDER BY activated_at DESC, kid;
