-- A token may carry an expiry: past it the token is refused like a revoked one.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
